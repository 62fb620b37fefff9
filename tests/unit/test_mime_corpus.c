/* The MIME parser on the shared corpora in ../shared/testdata (skipped
 * when it is absent): Crispin's MIME torture test against his expected part
 * numbering, stalwart-mail-parser's messages against its JSON, crymap's
 * messages; every one also parsed one byte at a time and in other splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "mime/mime.h"
#include "mime_check.h"

/* ---- shared test data ---- */

static char *testdata_path(const char *rel)
{
	const char *dir = getenv("SUREL_TESTDATA");
	if (dir == NULL)
		return NULL;
	char *path = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		free(path);
		return NULL;
	}
	fclose(f);
	return path;
}

static bool read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
	return true;
}

static char *torture_path(void)
{
	char *p = testdata_path("crymap-testdata/src/test_data/torture-test.eml");
	if (p == NULL)
		print_message("shared test data not found (SUREL_TESTDATA=%s)\n",
			      getenv("SUREL_TESTDATA") ? getenv("SUREL_TESTDATA") : "unset");
	return p;
}

/* Crispin's list of the torture test's part numbers, types, descriptions
 * and sizes, e.g.  "// > 6.2.3 APPLICATION/X-BE2;VERSION=12 (46125 bytes)". */
static void test_torture(void **state)
{
	char *path = torture_path();
	char *list = testdata_path("crymap-testdata/torture-test-crispin-part-numbering.txt");
	if (path == NULL || list == NULL) {
		free(path);
		free(list);
		skip();
	}
	struct buf data = BUF_INIT, expect = BUF_INIT;
	assert_true(read_file(path, &data));
	assert_true(read_file(list, &expect));
	check_splits("torture-test", data.data, data.len);
	struct mime_message *m = mime_parse(data.data, data.len);
	assert_false(m->truncated);
	size_t checked = 0;
	for (char *line = strtok(expect.data, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *gt = strstr(line, "> ");
		if (gt == NULL || gt[2] < '1' || gt[2] > '9')
			continue;
		char section[32], spec[128];
		if (sscanf(gt + 2, "%31s %127s", section, spec) != 2)
			continue;
		/* the size: the last "(N lines)" or "(N bytes)" */
		char *last = strrchr(line, '(');
		unsigned long long n = 0;
		char unit[8] = "";
		assert_int_equal(sscanf(last, "(%llu %7[a-z])", &n, unit), 2);
		/* the description, when there is one: "(...)" before it */
		char *desc = NULL;
		char *open = strchr(gt + 2 + strlen(section) + 1 + strlen(spec), '(');
		if (open != NULL && open != last) {
			char *close = last - 2;
			desc = xstrndup(open + 1, (size_t)(close - open - 1) + 1);
			char *end = strrchr(desc, ')');
			if (end != NULL)
				*end = '\0';
		}
		const struct mime_part *p = mime_find_part(m, section);
		if (p == NULL)
			fail_msg("torture: no part %s", section);
		char *semi = strchr(spec, ';');
		if (semi != NULL)
			*semi = '\0';
		char *slash = strchr(spec, '/');
		assert_non_null(slash);
		*slash = '\0';
		if (strcasecmp(p->type, spec) != 0 || strcasecmp(p->subtype, slash + 1) != 0)
			fail_msg("torture %s: %s/%s, want %s/%s", section, p->type, p->subtype, spec,
				 slash + 1);
		if (semi != NULL) {
			char *eq = strchr(semi + 1, '=');
			*eq = '\0';
			/* the list shows the default charset too */
			const char *v = strcasecmp(semi + 1, "charset") == 0
						? mime_part_charset(p)
						: mime_param_get(p->params, p->n_params, semi + 1);
			if (v == NULL || strcasecmp(v, eq + 1) != 0)
				fail_msg("torture %s: %s=%s, want %s", section, semi + 1, v ? v : "-",
					 eq + 1);
		}
		if (desc != NULL && (p->description == NULL || strcmp(p->description, desc) != 0))
			fail_msg("torture %s: description '%s', want '%s'", section,
				 p->description ? p->description : "-", desc);
		unsigned long long got = strcmp(unit, "lines") == 0 ? p->body_lines
								     : p->body_end - p->body_start;
		if (got != n)
			fail_msg("torture %s: %llu %s, want %llu", section, got, unit, n);
		free(desc);
		checked++;
	}
	assert_int_equal(checked, 27);
	mime_message_free(&m);
	buf_free(&data);
	buf_free(&expect);
	free(path);
	free(list);
}

/* The content type a stalwart-mail-parser part shows in its JSON. */
static char *json_content_type(json_t *part)
{
	json_t *headers = json_object_get(part, "headers");
	size_t i;
	json_t *h;
	json_array_foreach(headers, i, h) {
		const char *hn = json_string_value(json_object_get(h, "name"));
		if (hn == NULL || strcmp(hn, "content_type") != 0)
			continue;
		json_t *ct = json_object_get(json_object_get(h, "value"), "ContentType");
		if (ct == NULL)
			return NULL;
		const char *t = json_string_value(json_object_get(ct, "c_type"));
		const char *s = json_string_value(json_object_get(ct, "c_subtype"));
		char *r = xasprintf("%s/%s", t ? t : "", s ? s : "");
		for (char *c = r; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		return r;
	}
	return NULL;
}

static const char *json_subject(json_t *root)
{
	json_t *part = json_array_get(json_object_get(root, "parts"), 0);
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(part, "headers"), i, h) {
		const char *hn = json_string_value(json_object_get(h, "name"));
		if (hn != NULL && strcmp(hn, "subject") == 0)
			return json_string_value(json_object_get(json_object_get(h, "value"), "Text"));
	}
	return NULL;
}

/* Our parts in stalwart-mail-parser's order: depth first, not into
 * encapsulated messages (their JSON nests those separately). */
static void flat_types(const struct mime_part *p, char ***types, size_t *n)
{
	*types = xrealloc(*types, (*n + 1) * sizeof **types);
	(*types)[(*n)++] = xasprintf("%s/%s", p->type, p->subtype);
	for (size_t i = 0; i < p->n_children; i++)
		flat_types(&p->children[i], types, n);
}

/* Messages whose structure stalwart-mail-parser models differently: its
 * parser does not end a header at a boundary (Dovecot's and ours do). */
static const char *const stalwart_structure_differs[] = { "thirdparty/015" };

static void test_stalwart_corpus(void **state)
{
	char *base = testdata_path("stalwart-mail-parser/resources/eml/rfc/000.eml");
	if (base == NULL) {
		print_message("shared test data not found\n");
		skip();
	}
	*strstr(base, "/rfc/000.eml") = '\0';
	static const char *const dirs[] = { "rfc", "legacy", "thirdparty", "malformed" };
	size_t files = 0, subjects = 0;
	for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
		bool malformed = strcmp(dirs[d], "malformed") == 0;
		for (unsigned k = 0; k < 1000; k++) {
			char *eml = xasprintf("%s/%s/%03u.eml", base, dirs[d], k);
			struct buf data = BUF_INIT, text_h = BUF_INIT, text_b = BUF_INIT;
			if (!read_file(eml, &data)) {
				free(eml);
				break;
			}
			char *name = xasprintf("%s/%03u", dirs[d], k);
			files++;
			/* Every message, malformed or not: same result in any
			 * split, no crash or leak, text extraction works. */
			check_splits(name, data.data, data.len);
			struct mime_message *m = mime_parse(data.data, data.len);
			mime_extract_text(m, data.data, data.len, &text_h, &text_b);
			assert_non_null(text_h.data);
			assert_non_null(text_b.data);

			char *json = xasprintf("%s/%s/%03u.json", base, dirs[d], k);
			json_error_t jerr;
			json_t *root = json_load_file(json, JSON_ALLOW_NUL, &jerr);
			bool differs = false;
			for (size_t i = 0; i < sizeof stalwart_structure_differs / sizeof stalwart_structure_differs[0]; i++)
				if (strcmp(name, stalwart_structure_differs[i]) == 0)
					differs = true;
			if (root != NULL && !malformed && !differs) {
				char **types = NULL;
				size_t n = 0;
				flat_types(&m->root, &types, &n);
				json_t *parts = json_object_get(root, "parts");
				if (json_array_size(parts) != n)
					fail_msg("%s: %zu parts, stalwart has %zu", name, n,
						 json_array_size(parts));
				for (size_t i = 0; i < n; i++) {
					char *t = json_content_type(json_array_get(parts, i));
					if (t != NULL && strcmp(t, types[i]) != 0)
						fail_msg("%s: part %zu is %s, stalwart says %s", name, i,
							 types[i], t);
					free(t);
					free(types[i]);
				}
				free(types);
				/* The decoded subject. */
				const char *want = json_subject(root);
				/* Raw 8-bit that is not UTF-8: stalwart-mail-parser
				 * shows U+FFFD, we read it as windows-1252 (as mail
				 * readers do); those are not compared. */
				if (want != NULL && strstr(want, "\xEF\xBF\xBD") == NULL) {
					struct buf dec = BUF_INIT;
					assert_non_null(m->subject);
					mime_decode_header(m->subject, strlen(m->subject), &dec);
					if (strcmp(buf_cstr(&dec), want) != 0)
						fail_msg("%s: subject '%s', want '%s'", name, buf_cstr(&dec),
							 want);
					buf_free(&dec);
					subjects++;
				}
			}
			if (root != NULL)
				json_decref(root);
			free(json);
			mime_message_free(&m);
			buf_free(&data);
			buf_free(&text_h);
			buf_free(&text_b);
			free(name);
			free(eml);
		}
	}
	assert_int_equal(files, 107);
	assert_true(subjects >= 60);
	free(base);
}

static void test_crymap_corpus(void **state)
{
	char *torture = torture_path();
	if (torture == NULL)
		skip();
	*strrchr(torture, '/') = '\0';
	DIR *dir = opendir(torture);
	assert_non_null(dir);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(dir)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".eml") != 0 ||
		    strcmp(de->d_name, "torture-test.eml") == 0)
			continue;
		char *path = xasprintf("%s/%s", torture, de->d_name);
		struct buf data = BUF_INIT;
		assert_true(read_file(path, &data));
		check_splits(de->d_name, data.data, data.len);
		buf_free(&data);
		free(path);
		n++;
	}
	closedir(dir);
	assert_true(n >= 30);
	free(torture);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torture),
		cmocka_unit_test(test_stalwart_corpus),
		cmocka_unit_test(test_crymap_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
