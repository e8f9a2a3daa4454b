"""paramiko client for the end-to-end tests: python3 paramiko-exec.py PORT KEYFILE COMMAND.
Prints the command's stdout, exits with its status (255 and the error when login fails)."""
import sys

import paramiko


def main(port, key, command):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect('127.0.0.1', port=int(port), username='paas', key_filename=key,
                       allow_agent=False, look_for_keys=False, timeout=15)
        _, stdout, stderr = client.exec_command(command)
        out = stdout.read().decode()
        status = stdout.channel.recv_exit_status()
        sys.stderr.write(stderr.read().decode())
    except (OSError, paramiko.SSHException) as err:
        print(f'{type(err).__name__}: {err}', file=sys.stderr)
        return 255
    finally:
        client.close()
    sys.stdout.write(out)
    return status


sys.exit(main(*sys.argv[1:4]))
