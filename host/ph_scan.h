/* ph_scan -- vets a plugin file in a child process before the host loads
 * it, as GStreamer's plugin scanner does.
 *
 * Loading a plugin runs its code: ELF constructors, then
 * pipehost_plugin_v1().  Code that exits, crashes or hangs there would
 * take down whichever pipehost command loaded it (`plugins list`,
 * `validate`, `run`).  So a forked child dlopen()s the file, calls the
 * entry point and checks the descriptor first; only a file that passed is
 * loaded into the calling process.  A passed file is remembered in a
 * cache keyed by its identity (path, device, inode, size, modification
 * and change times, plus the host's version), so later commands pay one
 * stat() per plugin: $PIPEHOST_PLUGIN_CACHE, else
 * $XDG_CACHE_HOME/pipehost/plugin-scan (PIPEHOST_PLUGIN_CACHE=off keeps
 * no cache).
 */
#ifndef PH_SCAN_H
#define PH_SCAN_H

#include <glib.h>
#include <sys/stat.h>

/* Checks the plugin at real (a resolved path) whose stat is st, in a
 * child process unless the cache knows this very file as good.  check
 * runs in the child on the loaded descriptor (the registry's descriptor
 * checks) and returns FALSE with error set when it fails.  TRUE when the
 * file may be loaded; FALSE with error set to the check that failed (a
 * crash, an exit, a hang or a refused descriptor), prefixed with path. */
gboolean ph_scan_vet(const char *path, const char *real, const struct stat *st,
                     gboolean (*check)(const void *desc, GError **error),
                     GError **error);

#endif
