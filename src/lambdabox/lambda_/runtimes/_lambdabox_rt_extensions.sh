# lambdabox's extensions launcher: start the external extensions, wait for the go-ahead, become
# the runtime. Run as: sh _lambdabox_rt_extensions.sh <extensions dir> <runtime command...>
# Its stdin is lambdabox's control socket: "go" arrives there once every extension has
# registered; each extension's exit is reported there as "exit <status> <name>". Its fd 3 is a
# pipe of the extensions' own for their stdout and stderr (the function's log stream too).
exec 9<&0 0</dev/null
dir=$1
shift
for ext in "$dir"/*; do
    if [ -f "$ext" ]; then
        ( "$ext" 9<&- >&3 2>&3 3>&-; echo "exit $? ${ext##*/}" >&9 ) &
    fi
done
if read -r go <&9 && [ "$go" = go ]; then
    exec "$@" 9<&- 3>&-
fi
exit 1
