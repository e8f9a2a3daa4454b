/* A minimal libssh client for the end-to-end tests: logs in with one private key and runs one
 * command. Usage: libssh-exec HOST PORT KEYFILE COMMAND. Prints the command's stdout, exits with
 * its exit status, or 255 with libssh's error on stderr. */
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(ssh_session s, const char *what) {
  fprintf(stderr, "%s: %s\n", what, ssh_get_error(s));
  return 255;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s HOST PORT KEYFILE COMMAND\n", argv[0]);
    return 2;
  }
  ssh_session s = ssh_new();
  int port = atoi(argv[2]);
  int no = 0;
  if (getenv("LIBSSH_VERBOSE")) { int v = atoi(getenv("LIBSSH_VERBOSE")); ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &v); }
  ssh_options_set(s, SSH_OPTIONS_HOST, argv[1]);
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_USER, "paas");
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
  ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &no);
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  if (ssh_connect(s) != SSH_OK) return fail(s, "connect");
  ssh_key key;
  if (ssh_pki_import_privkey_file(argv[3], NULL, NULL, NULL, &key) != SSH_OK) return fail(s, "key");
  if (ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) return fail(s, "auth");
  ssh_channel ch = ssh_channel_new(s);
  if (ssh_channel_open_session(ch) != SSH_OK) return fail(s, "session");
  if (ssh_channel_request_exec(ch, argv[4]) != SSH_OK) return fail(s, "exec");
  char buf[4096];
  int n;
  while ((n = ssh_channel_read(ch, buf, sizeof buf, 0)) > 0) fwrite(buf, 1, n, stdout);
  ssh_channel_send_eof(ch);
  int status = ssh_channel_get_exit_status(ch);
  ssh_channel_close(ch);
  ssh_disconnect(s);
  return status < 0 ? 255 : status;
}
