// SPDX-License-Identifier: MIT
/*
 * log — the one log macro. LOG(level, fmt, ...) tests the level before it
 * evaluates its arguments, is printf-checked, and prefixes the subsystem
 * (LOG_SUBSYS, defined by each .c file before including this header) and the
 * function. Where the text goes is the sink's business: the runtime writes
 * stderr, the simulator counts or drops; engines never print themselves.
 *
 * LOG_RL is for anything a remote peer can trigger: per call site at most
 * LOG_RL_BURST lines per LOG_RL_WINDOW_MS, then one line saying how many
 * were suppressed. Keys and secrets are never logged.
 */
#ifndef GVPN_OVERLAY_LOG_H
#define GVPN_OVERLAY_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#ifndef LOG_SUBSYS
#define LOG_SUBSYS "gvpn"
#endif

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_MAX,
};

#define LOG_RL_BURST     10
#define LOG_RL_WINDOW_MS 5000
#define LOG_LINE_MAX     512

/* Receives one formatted line (no newline). */
typedef void (*log_sink_fn)(void *ctx, enum log_level level, const char *subsys, const char *func,
                            const char *msg);
/* Milliseconds on some monotonic clock, for rate limiting. */
typedef uint64_t (*log_clock_fn)(void *ctx);

extern enum log_level log_threshold;

void log_set_level(enum log_level level);
/* "error", "warn", "info", "debug"; 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
/* A sink that drops every line (fuzz targets, benchmarks): the lines are
 * still formatted first, so odd peer-controlled strings meet the formatter. */
void log_sink_discard(void *ctx, enum log_level level, const char *subsys, const char *func,
                      const char *msg);
/* NULL sink: the default, stderr with a UTC timestamp. */
void log_set_sink(log_sink_fn fn, void *ctx);
/* NULL clock: CLOCK_MONOTONIC. */
void log_set_clock(log_clock_fn fn, void *ctx);

void log_write(enum log_level level, const char *subsys, const char *func, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* One rate limiter per call site (static storage in the macro). */
struct log_rl {
	uint64_t window_start;
	uint32_t count;
	uint32_t suppressed;
};
/* true: log this one; it may first emit a line about suppressed messages. */
bool log_rl_allow(struct log_rl *rl, enum log_level level, const char *subsys, const char *func);

#define LOG(level, fmt, ...)                                                                       \
	do {                                                                                       \
		if ((level) <= log_threshold)                                                      \
			log_write((level), LOG_SUBSYS, __func__, fmt, ##__VA_ARGS__);              \
	} while (0)

#define LOG_RL(level, fmt, ...)                                                                    \
	do {                                                                                       \
		static struct log_rl log_rl_site_;                                                 \
		if ((level) <= log_threshold &&                                                    \
		    log_rl_allow(&log_rl_site_, (level), LOG_SUBSYS, __func__))                    \
			log_write((level), LOG_SUBSYS, __func__, fmt, ##__VA_ARGS__);              \
	} while (0)

#endif
