# lambdabox's extensions launcher: start the external extensions, wait for the go-ahead, become
# the runtime. Run as: sh _lambdabox_rt_extensions.sh <extensions dir> <runtime command...>
# Its stdin is lambdabox's control socket: "go" arrives there once every extension has
# registered; each extension's exit is reported there as "exit <status> <name>".
exec 9<&0 0</dev/null
dir=$1
shift
for ext in "$dir"/*; do
    if [ -f "$ext" ]; then
        ( "$ext" 9<&-; echo "exit $? ${ext##*/}" >&9 ) &
    fi
done
if read -r go <&9 && [ "$go" = go ]; then
    exec "$@" 9<&-
fi
exit 1
