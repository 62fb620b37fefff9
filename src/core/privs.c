#include "core/privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/xmalloc.h"

bool privs_are_root(void)
{
	return geteuid() == 0;
}

int privs_lookup(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, char **error_r)
{
	struct passwd *pw = getpwnam(cfg->server_user);
	if (pw == NULL) {
		*error_r = xasprintf("server.user: no such user '%s' (scripts/install-deps creates it)",
				     cfg->server_user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		*error_r = xasprintf("server.user: '%s' is root; choose an unprivileged user",
				     cfg->server_user);
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

int privs_chown_to_server(const struct config *cfg, const char *path, char **error_r)
{
	if (!privs_are_root())
		return 0;
	uid_t uid;
	gid_t gid;
	if (privs_lookup(cfg, &uid, &gid, error_r) < 0)
		return -1;
	if (lchown(path, uid, gid) < 0 && errno != ENOENT) {
		*error_r = xasprintf("%s: chown: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int privs_drop(const struct config *cfg, char **error_r)
{
	if (!privs_are_root())
		return 0;
	uid_t uid;
	gid_t gid;
	if (privs_lookup(cfg, &uid, &gid, error_r) < 0)
		return -1;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		*error_r = xasprintf("cannot drop privileges to '%s': %s", cfg->server_user,
				     strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		*error_r = xasprintf("privileges could be regained after dropping to '%s'",
				     cfg->server_user);
		return -1;
	}
	return 0;
}

int privs_make_data_dir(const struct config *cfg, char **error_r)
{
	const char *dir = cfg->server_data_dir;
	struct buf path = BUF_INIT;
	int ret = 0;
	/* mkdir -p, each component */
	for (size_t i = 0; dir[i] != '\0'; i++) {
		buf_putc(&path, dir[i]);
		if (dir[i + 1] != '/' && dir[i + 1] != '\0')
			continue;
		if (mkdir(buf_cstr(&path), 0750) < 0 && errno != EEXIST) {
			*error_r = xasprintf("%s: cannot create directory: %s", buf_cstr(&path),
					     strerror(errno));
			ret = -1;
			goto out;
		}
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s: not a directory", dir);
		ret = -1;
		goto out;
	}
	ret = privs_chown_to_server(cfg, dir, error_r);
out:
	buf_free(&path);
	return ret;
}
