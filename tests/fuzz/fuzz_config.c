/* The config file parser (src/config.c over inih): any file either loads
 * and passes or fails config_validate, or fails with a message naming the
 * file, and a failed load leaves the config exactly as it was. A loaded
 * config must also survive being loaded again (idempotence of the setters).
 * Needs: src/config.c */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ftpd/config.h"
#include "ftpd/config_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    static struct ftpd_config cfg, before;
    config_defaults(&cfg);
    before = cfg;
    char err[512];
    memset(err, 'x', sizeof err);
    struct config_origin origin = {0};
    if (config_load_file(&cfg, path, &origin, err, sizeof err) == 0) {
        FUZZ_ASSERT(origin.arch_line >= 0, "arch_line %d", origin.arch_line);
        FUZZ_ASSERT(cfg.nlisten >= 0 && cfg.nlisten <= FTPD_LISTEN_MAX, "nlisten %d", cfg.nlisten);
        FUZZ_ASSERT(memchr(cfg.root, '\0', sizeof cfg.root) != NULL, "root not terminated");
        FUZZ_ASSERT(memchr(cfg.banner, '\0', sizeof cfg.banner) != NULL, "banner not terminated");
        err[0] = '\0';
        (void)config_validate(&cfg, err, sizeof err);
        FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL, "validate message not terminated");
        struct ftpd_config again = cfg;
        FUZZ_ASSERT(config_load_file(&again, path, NULL, err, sizeof err) == 0,
                    "second load failed: %s", err);
    } else {
        FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL, "error message not terminated");
        FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0, "error does not name the file: %s", err);
        FUZZ_ASSERT(memcmp(&cfg, &before, sizeof cfg) == 0, "a failed load changed the config");
    }
    close(fd);
    return 0;
}
