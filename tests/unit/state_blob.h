/* Unit tests' shortcut from a state writer to a reader over its blob. */
#ifndef VMON_TESTS_STATE_BLOB_H
#define VMON_TESTS_STATE_BLOB_H

#include <stdio.h>
#include <stdlib.h>

#include "migration/state.h"

/* Finishes `w` and opens `r` on the blob, which the caller frees; bails out if either fails. */
static inline uint8_t *state_blob_open(struct state_writer *w, struct state_reader *r)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	const char *why = "";
	if (state_writer_finish(w, &blob, &len) != 0 || state_reader_open(r, blob, len, &why) != 0) {
		printf("Bail out! cannot build a state blob: %s\n", why);
		exit(1);
	}
	return blob;
}

/* A blob holding one empty section of another kind than every device's, opened in `r`. */
static inline uint8_t *state_blob_without_devices(struct state_reader *r)
{
	struct state_writer w;
	state_writer_init(&w);
	state_begin(&w, STATE_TAG('N', 'O', 'N', 'E'), 0);
	state_end(&w);
	return state_blob_open(&w, r);
}

#endif
