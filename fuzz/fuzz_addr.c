/* libFuzzer target: address, domain and alias-source normalisation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *out = NULL, *err = NULL, *uni = NULL;

	if (addr_normalize(copy, size, &out, &err) == 0) {
		/* A normalised address is a fixed point and has a display form. */
		char *again = NULL;
		if (addr_normalize(out, strlen(out), &again, &err) != 0 || strcmp(again, out) != 0)
			abort();
		free(again);
		if (addr_to_unicode(out, &uni, &err) == 0)
			free(uni);
		else
			free(err);
		free(out);
	} else {
		free(err);
	}
	err = NULL;
	if (addr_domain_normalize(copy, size, &out, &err) == 0)
		free(out);
	else
		free(err);
	err = NULL;
	if (addr_source_normalize(copy, size, &out, &err) == 0)
		free(out);
	else
		free(err);
	free(copy);
	return 0;
}
