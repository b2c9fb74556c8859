/*
 * lambdabox's pid 1 for an environment forked from a template (lambda_/sandbox/template.py).
 *
 *     _lambdabox_init PID
 *
 * The forked pid 1 of an environment has already forked its runtime (PID) and execs this to
 * give back the memory it holds (a copy of the template's interpreter); this then does what
 * tini does for a spawned environment: reaps every process orphaned in the pid namespace,
 * passes SIGTERM, SIGINT, SIGHUP and SIGQUIT on to the runtime, and ends when the runtime ends,
 * with its exit status, or 128 + the signal that killed it.
 *
 * Compiled once per server by rootfs.py into the shared /var/runtime when a C compiler is
 * there; without one the forked pid 1 stays a Python reaper (confine.py), which costs more
 * memory per environment but behaves the same.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int reap(pid_t runtime) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0)
            return -1; /* children left, none exited */
        if (pid < 0)
            return errno == EINTR ? -1 : 1; /* ECHILD: nothing left to wait for */
        if (pid == runtime)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    pid_t runtime = (pid_t)atoi(argv[1]);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (;;) {
        int code = reap(runtime); /* also what ended before we were exec'ed */
        if (code >= 0)
            return code;
        int sig = sigwaitinfo(&set, NULL);
        if (sig > 0 && sig != SIGCHLD)
            kill(runtime, sig);
    }
}
