// SPDX-License-Identifier: MIT
/*
 * wire — the one bounds-checked reader and writer for every wire format.
 *
 * Both carry a sticky error flag: once a read or write does not fit, every
 * later one is a no-op returning zeros, and wire_ok() says false. So a parser
 * reads all fields, then checks once; it never touches memory past the end.
 * Integers are big-endian. Must not allocate.
 */
#ifndef GVPN_OVERLAY_WIRE_H
#define GVPN_OVERLAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wire_reader {
	const uint8_t *p;
	size_t len, off;
	bool err;
};

struct wire_writer {
	uint8_t *p;
	size_t cap, off;
	bool err;
};

static inline struct wire_reader wire_reader(const void *p, size_t len)
{
	return (struct wire_reader){.p = p, .len = len};
}

static inline struct wire_writer wire_writer(void *p, size_t cap)
{
	return (struct wire_writer){.p = p, .cap = cap};
}

/* A view of the next n bytes (borrowed), or NULL and the error flag. */
static inline const uint8_t *wire_get_ptr(struct wire_reader *r, size_t n)
{
	const uint8_t *q;

	if (r->err || n > r->len - r->off) {
		r->err = true;
		return NULL;
	}
	q = r->p + r->off;
	r->off += n;
	return q;
}

static inline void wire_get_bytes(struct wire_reader *r, void *out, size_t n)
{
	const uint8_t *q = wire_get_ptr(r, n);

	if (q)
		memcpy(out, q, n);
	else
		memset(out, 0, n);
}

static inline uint8_t wire_get_u8(struct wire_reader *r)
{
	const uint8_t *q = wire_get_ptr(r, 1);

	return q ? q[0] : 0;
}

static inline uint16_t wire_get_u16(struct wire_reader *r)
{
	const uint8_t *q = wire_get_ptr(r, 2);

	return q ? (uint16_t)(q[0] << 8 | q[1]) : 0;
}

static inline uint32_t wire_get_u32(struct wire_reader *r)
{
	const uint8_t *q = wire_get_ptr(r, 4);

	return q ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3] : 0;
}

static inline uint64_t wire_get_u64(struct wire_reader *r)
{
	uint64_t hi = wire_get_u32(r);

	return hi << 32 | wire_get_u32(r);
}

static inline size_t wire_remaining(const struct wire_reader *r)
{
	return r->err ? 0 : r->len - r->off;
}

static inline bool wire_ok(const struct wire_reader *r)
{
	return !r->err;
}

/* True when every byte was read and nothing was out of bounds: the exact-length rule. */
static inline bool wire_done(const struct wire_reader *r)
{
	return !r->err && r->off == r->len;
}

/* Reserves n bytes and returns them for the caller to fill, or NULL + error. */
static inline uint8_t *wire_put_space(struct wire_writer *w, size_t n)
{
	uint8_t *q;

	if (w->err || n > w->cap - w->off) {
		w->err = true;
		return NULL;
	}
	q = w->p + w->off;
	w->off += n;
	return q;
}

static inline void wire_put_bytes(struct wire_writer *w, const void *src, size_t n)
{
	uint8_t *q = wire_put_space(w, n);

	if (q && n)
		memcpy(q, src, n);
}

static inline void wire_put_u8(struct wire_writer *w, uint8_t v)
{
	uint8_t *q = wire_put_space(w, 1);

	if (q)
		q[0] = v;
}

static inline void wire_put_u16(struct wire_writer *w, uint16_t v)
{
	uint8_t *q = wire_put_space(w, 2);

	if (q) {
		q[0] = (uint8_t)(v >> 8);
		q[1] = (uint8_t)v;
	}
}

static inline void wire_put_u32(struct wire_writer *w, uint32_t v)
{
	uint8_t *q = wire_put_space(w, 4);

	if (q) {
		q[0] = (uint8_t)(v >> 24);
		q[1] = (uint8_t)(v >> 16);
		q[2] = (uint8_t)(v >> 8);
		q[3] = (uint8_t)v;
	}
}

static inline void wire_put_u64(struct wire_writer *w, uint64_t v)
{
	wire_put_u32(w, (uint32_t)(v >> 32));
	wire_put_u32(w, (uint32_t)v);
}

static inline size_t wire_len(const struct wire_writer *w)
{
	return w->off;
}

static inline bool wire_wok(const struct wire_writer *w)
{
	return !w->err;
}

#endif
