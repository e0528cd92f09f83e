/* fuzz_config: the configuration parser (files and --set), its checks
 * against sl-simulate's schema (survey, prior and render keys), the prior
 * built from it, and the configuration written back and read again. */
#include "fuzz.h"

#include "config.h"
#include "prior.h"
#include "render.h"

static sl_config *schema(void)
{
    sl_err err;
    sl_config *c = sl_config_new();
    if (!c || sl_config_add_keys(c, sl_survey_keys, sl_n_survey_keys, &err) < 0 ||
        sl_config_add_keys(c, sl_prior_keys, sl_n_prior_keys, &err) < 0 ||
        sl_config_add_keys(c, sl_render_keys, sl_n_render_keys, &err) < 0)
        abort();
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sl_err err;
    sl_config *c = schema();
    /* The first line, when it starts with '@', names a preset; the next
     * lines starting with "--set " are overrides; the rest is a file. */
    char *body = text;
    if (body[0] == '@') {
        char *nl = strchr(body, '\n');
        if (nl)
            *nl = '\0';
        (void)sl_config_use_preset(c, body + 1, &err);
        body = nl ? nl + 1 : body + strlen(body);
    }
    if (sl_config_load_string(c, body, "fuzz.conf", &err) == 0) {
        for (char *line = body; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (!strncmp(line, "--set ", 6))
                (void)sl_config_set(c, line + 6, &err);
            line = nl ? nl + 1 : NULL;
        }
    }
    if (sl_config_validate(c, &err) == 0) {
        sl_prior p;
        (void)sl_prior_from_config(&p, c, &err);
        char *out = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&out, &len);
        if (fp) {
            sl_config_write(c, fp);
            fclose(fp);
            /* What is written must read back, and validate, the same. */
            sl_config *again = schema();
            if (sl_config_load_string(again, out, "written", &err) < 0 ||
                sl_config_validate(again, &err) < 0) {
                fprintf(stderr, "written configuration does not read back: %s\n", err.msg);
                abort();
            }
            for (size_t i = 0; i < sl_config_count(c); i++) {
                const char *a = sl_config_value_at(c, i), *b = sl_config_value_at(again, i);
                if ((a == NULL) != (b == NULL) || (a && strcmp(a, b))) {
                    fprintf(stderr, "key %s: '%s' written, '%s' read back\n",
                            sl_config_name_at(c, i), a ? a : "(unset)", b ? b : "(unset)");
                    abort();
                }
            }
            sl_config_free(again);
        }
        free(out);
    }
    sl_config_free(c);
    free(text);
    return 0;
}
