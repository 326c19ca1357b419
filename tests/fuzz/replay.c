// SPDX-License-Identifier: MIT
/*
 * replay — main() for a fuzz target in a build without libFuzzer (gcc, or
 * clang without GVPN_FUZZ). Calls LLVMFuzzerInitialize() if the target has
 * one, then LLVMFuzzerTestOneInput() once on every file named on the command
 * line and on every regular file directly inside the directories named there,
 * in name order. Each input sits in a buffer of exactly its size, so a
 * sanitizer build catches reads past its end.
 *
 * Exit: 0 all inputs ran (a target reports a broken property by aborting),
 * 1 an input could not be read or none was found, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Larger than any input a target accepts, so the caps are replayed too. */
#define REPLAY_FILE_MAX (16 * 1024 * 1024)
#define REPLAY_PATH_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path, size_t *count)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t len;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > REPLAY_FILE_MAX) {
		fprintf(stderr, "replay: %s: not a regular file of at most %d bytes\n", path,
		        REPLAY_FILE_MAX);
		goto out;
	}
	len = (size_t)st.st_size;
	/* Exactly len bytes (malloc(0) is a valid unique pointer in glibc). */
	buf = malloc(len ? len : 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		goto out;
	}
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	(*count)++;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, size_t *count)
{
	char **names = NULL, path[REPLAY_PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));

			if (!more) {
				rc = -1;
				break;
			}
			names = more;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (rc == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path, count) < 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	if (rc < 0)
		fprintf(stderr, "replay: %s: failed\n", dir);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int i;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if ((S_ISDIR(st.st_mode) ? replay_dir(argv[i], &count)
		                         : replay_file(argv[i], &count)) < 0)
			return 1;
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs found: a replay of nothing tests nothing\n");
		return 1;
	}
	printf("replay: %zu inputs, no property broken\n", count);
	return 0;
}
