"""asyncssh client for the end-to-end tests: python3 asyncssh-exec.py PORT KEYFILE COMMAND.
Prints the command's stdout, exits with its status (255 and the error when login fails)."""
import asyncio
import sys

import asyncssh


async def main(port, key, command):
    try:
        async with asyncssh.connect('127.0.0.1', port=int(port), username='paas', client_keys=[key],
                                    known_hosts=None, agent_path=None, config=[]) as conn:
            result = await conn.run(command)
    except (OSError, asyncssh.Error) as err:
        print(f'{type(err).__name__}: {err}', file=sys.stderr)
        return 255
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.exit_status


sys.exit(asyncio.run(main(*sys.argv[1:4])))
