#!/bin/bash
# Log writer of one supervised process: usage `log-writer.sh FILE MAX_BYTES KEEP TAG` (KEEP >= 1).
# Reads the app's stdout+stderr on stdin, writes each line as `<UTC time with µs> <TAG> <line>` to
# FILE (TAG is the release: the old and the new release of a runner share FILE while a deploy
# switches, and a failed start must show its own lines only; see src/runners/log-line.ts), and rotates FILE -> FILE.1 -> ... -> FILE.KEEP (the oldest dropped) once FILE reaches MAX_BYTES.
#
# It lives in the app's process group, outside the gateway, so it outlives both: it ignores the
# group's SIGTERM (and INT/HUP) and exits at EOF, i.e. once every process holding the pipe is gone,
# so whatever the app wrote while stopping still lands in the file. Per line it uses builtins
# only (no fork); the one read(2) per byte is bash's way with pipes and sets the throughput.
#
# All the work happens in main, which bash parses whole before running it: replacing this file
# (an upgrade) while writers run cannot make them execute a half-read script.

main() {
  local file=$1 max=$2 keep=$3 tag=$4 line now size
  trap '' TERM INT HUP
  # C locale: ${#line} counts bytes; UTC0: no /etc/localtime lookup per line; PATH: the app's env may lack one.
  export LC_ALL=C TZ=UTC0 PATH=/usr/bin:/bin
  reopen
  # -n caps a line without newline (binary output) at 64 KiB instead of buffering it all.
  while IFS= read -r -n 65536 line || [[ $line ]]; do
    now=$EPOCHREALTIME
    printf '%(%Y-%m-%dT%H:%M:%S)T.%.6sZ %s %s\n' "${now%.*}" "${now#*.}" "$tag" "$line" >&3
    # The timestamp, two spaces and the newline are 30 bytes.
    (( (size += ${#line} + ${#tag} + 30) < max )) || rotate
  done
}

rotate() {
  # Shift only if fd 3 still is FILE: a second writer on the same file (the old and the new
  # release of one runner, while a deploy switches) may have rotated it already.
  if [[ /dev/fd/3 -ef $file ]]; then
    local i
    for (( i = keep; i > 1; i-- )); do
      if [[ -e $file.$((i - 1)) ]]; then mv -f -- "$file.$((i - 1))" "$file.$i"; fi
    done
    mv -f -- "$file" "$file.1"
  fi
  reopen
}

reopen() {
  # An unwritable log must not kill the app through EPIPE: discard until the next rotation retries.
  { exec 3>>"$file"; } 2>/dev/null || exec 3>/dev/null
  size=$(stat -c %s -- "$file" 2>/dev/null) || size=0
}

main "$@"; exit
