/* fuzz_model: model records (task, factors, architecture, weights), as
 * sl-encode and sl-tile -m load them, and one forward pass of what loads. */
#include "fuzz.h"

#include "model.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f = fuzz_file_make(data, size);
    if (!f.path[0])
        return 0;
    sl_err err;
    sl_reader *r = sl_reader_open(f.path, &err);
    if (r) {
        sl_record rec;
        for (int k = 0; k < 8 && sl_read(r, &rec, &err) >= 0; k++) {
            sl_model m;
            if (sl_model_read(&m, &rec, 2, 1, 1, &err) == 0) {
                size_t n = sl_task_input_size(&m.task);
                float *in = calloc(2 * n + 1, sizeof *in);
                for (size_t i = 0; in && i < 2 * n; i++)
                    in[i] = (float)((i * 2654435761u) % 1000) / 250.0f - 2.0f;
                if (in)
                    (void)sl_nn_forward(m.net, in, 2, 0);
                free(in);
                sl_model_free(&m);
            }
            sl_history h = {0};
            (void)sl_history_read(&h, &rec, &err);
            sl_history_free(&h);
        }
        sl_reader_close(r);
    }
    fuzz_file_drop(&f);
    return 0;
}
