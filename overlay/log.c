// SPDX-License-Identifier: MIT
/* log — level filter, sinks and per-call-site rate limiting. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_LVL_INFO;

static log_sink_fn sink_fn;
static void *sink_ctx;
static log_clock_fn clock_fn;
static void *clock_ctx;

static const char *const level_names[LOG_LVL_MAX] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	if ((unsigned)level < LOG_LVL_MAX)
		log_threshold = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < LOG_LVL_MAX; i++) {
		if (s && !strcmp(s, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < LOG_LVL_MAX ? level_names[level] : "?";
}

void log_set_sink(log_sink_fn fn, void *ctx)
{
	sink_fn = fn;
	sink_ctx = ctx;
}

void log_set_clock(log_clock_fn fn, void *ctx)
{
	clock_fn = fn;
	clock_ctx = ctx;
}

static void stderr_sink(enum log_level level, const char *subsys, const char *func, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[32] = "";

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s %s: %s: %s\n", when, ts.tv_nsec / 1000000,
	        level_names[level], subsys, func, msg);
}

void log_write(enum log_level level, const char *subsys, const char *func, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;

	if ((unsigned)level >= LOG_LVL_MAX)
		level = LOG_LVL_ERROR;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Peers put bytes in our log lines (names, reasons): no control characters. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (sink_fn)
		sink_fn(sink_ctx, level, subsys, func, msg);
	else
		stderr_sink(level, subsys, func, msg);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_fn)
		return clock_fn(clock_ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool log_rl_allow(struct log_rl *rl, enum log_level level, const char *subsys, const char *func)
{
	uint64_t now = now_ms();

	if (rl->window_start == 0 || now - rl->window_start >= LOG_RL_WINDOW_MS) {
		if (rl->suppressed)
			log_write(level, subsys, func, "(%u similar messages suppressed)",
			          rl->suppressed);
		rl->window_start = now ? now : 1;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < LOG_RL_BURST) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}

void log_sink_discard(void *ctx, enum log_level level, const char *subsys, const char *func,
                      const char *msg)
{
	(void)ctx;
	(void)level;
	(void)subsys;
	(void)func;
	(void)msg;
}
