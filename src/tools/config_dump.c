/* config_dump: the stored config text, run key, base/replicate keys and JSON
 * of EXPERIMENT.ini under PROFILE with overrides, for checking that a change
 * to the configuration code leaves every existing run's identity unchanged
 * (src/tools/config_equiv.sh runs it over experiments/ x profiles before and
 * after and compares). Usage: config_dump EXPERIMENT.ini PROFILE [key=value ...] */
#include <stdio.h>
#include <stdlib.h>

#include "run/config.h"
#include "util/err.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: config_dump EXPERIMENT.ini PROFILE [key=value ...]\n");
        return 2;
    }
    bfn_config *c;
    if (bfn_config_load(&c, argv[1], argv[2], argc - 3, argv + 3) != BFN_OK) {
        printf("error: %s\n", bfn_last_error());
        return 1;
    }
    char key[17], base[17], rep[17];
    bfn_config_run_key(c, key);
    bfn_config_base_key(c, base);
    bfn_config_replicate_key(c, rep);
    char *text = bfn_config_text(c), *json = bfn_config_json(c);
    printf("run_key = %s\nbase_key = %s\nreplicate_key = %s\n%s%s\n", key, base, rep, text, json);
    free(text);
    free(json);
    bfn_config_free(c);
    return 0;
}
