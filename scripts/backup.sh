#!/usr/bin/env bash
# Back up Hyoka's PostgreSQL database and uploaded files.
#   scripts/backup.sh DATABASE_URL BACKUP_DIR [UPLOAD_DIR]
# Writes BACKUP_DIR/hyoka-YYYYmmdd-HHMMSS.dump (pg_dump custom format, includes triggers)
# and, when UPLOAD_DIR is given, a tar of the uploaded files beside it.
set -euo pipefail
url=${1:?database URL}; dir=${2:?backup directory}; uploads=${3:-}
mkdir -p "$dir"
stamp=$(date +%Y%m%d-%H%M%S)
pg_dump --format=custom --no-owner --file "$dir/hyoka-$stamp.dump" "$url"
if [ -n "$uploads" ] && [ -d "$uploads" ]; then
  tar -C "$uploads" -czf "$dir/hyoka-uploads-$stamp.tar.gz" .
fi
echo "$dir/hyoka-$stamp.dump"
