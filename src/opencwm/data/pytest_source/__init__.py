"""The `pytest` source: traces of a real package's functions, as its own test
suite calls them ("repository-level tracing").

    project = fetch_project("inflection", Path("~/.cache/opencwm/sdists").expanduser())
    for item in pytest_traces(project, "inflection"):
        item["id"], item["entry"], item["input"], item["trace"]

How it works. `fetch_project` downloads the sdist with pip and unpacks it
(sdists, unlike wheels, usually ship the tests). `run_pytest` sends every
file of the project to a sandboxed child (bubblewrap, no network, rlimits,
see `opencwm.sandbox`), which writes them to its private /tmp and runs
`pytest.main` over the project's test folders with `sys.settrace` set to
`CallTracer` (tracer.py). Frames stream back as JSON lines as they are
made, so a suite that hangs or kills itself still leaves every trace
recorded before; the host turns the lines into `Trace`s (run.py).

What a trace is. A call into a named function of the package (its test
files excluded) made from code outside the package -- a test, a fixture,
the stdlib -- opens a trace whose entry is that function. Calls made from
inside the package never open one. At most `max_calls_per_function`
traces per function, in the order the suite makes the calls; ids are
`PACKAGE:MODULE:QUALNAME:K` and are stable from run to run.

Convention for nested calls: the context of a trace is the *file* that
defines the entry (with its `def` line marked `# << START_OF_TRACE`), so
exactly the code of that file is traced inline, deeper, as the
single-program tracer does (helpers, recursion, comprehensions, callbacks
from opaque code back into the file); functions of other files of the
package, like everything else, are opaque. Every frame's line number and
source therefore refer to the context, and `opencwm.trace.cwm.from_cwm`
can place the frames again.

`input` is the call's arguments as CRUXEval-style text (`'a_b', False`,
keyword-only ones as `name=value`) when every argument is a plain literal
whose repr evaluates back to an equal value; otherwise "" (objects,
functions, `self` of a method).

Limits. Generator and coroutine functions are never entries (their bodies
run after the call that made them has returned); they are traced when the
entry's own code drives them. Only the main thread is traced. A test that
calls `sys.settrace` gets a RuntimeError. A test suite that needs packages
absent from this environment shows them as collection errors in
`PytestRun.errors` and yields fewer traces. The package runs from the
shipped copy under /tmp/opencwm-project, so paths in values say so. Values
are reprs capped at `repr_cap`; object addresses are renumbered per trace
(also inside returned strings such as `'<function f at 0x1>'`), but values
that hang on identity or the clock (`hash()` of a function, `id()` keys,
`datetime.now()`) still differ between runs: 13 of the 671 toolz and
cachetools traces do. `pip download` prepares an sdist's metadata, which
runs its build backend (setup.py) on the host, outside the sandbox: fetch
only packages you would install.
"""

from opencwm.data.benchmarks import SourceError
from opencwm.data.pytest_source.project import fetch_project
from opencwm.data.pytest_source.run import PytestRun, pytest_traces, run_pytest

__all__ = ["PytestRun", "SourceError", "fetch_project", "pytest_traces", "run_pytest"]
