#!/bin/sh
# Container entry point: put the Dagster instance config in place, then run the command.
#
# With TWILIGHT_PG_HOST set the instance is deploy/dagster.yaml (Postgres: run queue, pools,
# run monitoring); without it, the installed package's dagster.yaml (the embedded SQLite
# default) under $DAGSTER_HOME. The daemon also sets the "tushare" pool's limit, since pool limits live in the
# instance's storage rather than in dagster.yaml.
set -eu

APP="${TWILIGHT_APP_DIR:-/opt/twilight}"  # the image's deploy/ lives here
: "${DAGSTER_HOME:=${TWILIGHT_HOME:-/data}/dagster}"
export DAGSTER_HOME
mkdir -p "$DAGSTER_HOME" "${TWILIGHT_HOME:-/data}/logs"

if [ -n "${TWILIGHT_PG_HOST:-}" ]; then
    : "${TWILIGHT_PG_PORT:=5432}" "${TWILIGHT_PG_USER:=dagster}" "${TWILIGHT_PG_DB:=dagster}"
    export TWILIGHT_PG_PORT TWILIGHT_PG_USER TWILIGHT_PG_DB
    cp "$APP/deploy/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
else
    python -c 'import sys, twilight_app.instance as i
sys.stdout.buffer.write(i.DAGSTER_YAML.read_bytes())' >"$DAGSTER_HOME/dagster.yaml"
fi

if [ "${1:-}" = "dagster-daemon" ]; then
    dagster instance concurrency set tushare "${TWILIGHT_TUSHARE_POOL_LIMIT:-4}" >/dev/null
fi

exec "$@"
