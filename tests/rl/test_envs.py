from opencwm.rl.exec_envs import ImaginedEnv, ImaginedExecutor, OutputEnv, TraceEnv
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text
from opencwm.tracer.api import trace_program
from opencwm.world.fake import ScriptedBackend, perfect_backend, replay_replies

CODE = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
TASK = {"id": "sum", "code": CODE, "entry": "f", "input": "[1, 2]"}


def _real():
    return trace_program(CODE, "f", "[1, 2]")


def _return_action(value: str) -> str:
    real = _real()
    last = real.frames[-1]
    text = frame_text(type(last)("return", last.line, last.source, "f", 0, {}, value), None)
    return text.removeprefix(T.RETURN_SEP)


def test_output_env_rewards_the_right_value_checked_in_the_sandbox():
    env = OutputEnv()
    first = env.reset(TASK)
    assert first.observation.endswith(T.RETURN_SEP) and "[1, 2]" in first.observation
    assert env.step(_return_action("3")).reward == 1.0
    env.reset(TASK)
    wrong = env.step(_return_action("4"))
    assert wrong.terminal and wrong.reward == 0.0 and wrong.info["reason"] == "not equal"
    env.reset(TASK)
    assert env.step("garbage").reward == 0.0


def test_output_env_trace_answer_and_trace_env_fraction():
    real = _real()
    whole = "".join(replay_replies(real))
    env = OutputEnv(answer="trace")
    env.reset(TASK)
    assert env.step(whole).reward == 1.0
    tenv = TraceEnv()
    tenv.reset(TASK)
    assert tenv.step(whole).reward == 1.0
    half = replay_replies(real)[:2]  # two right frames, then the text stops
    tenv.reset(TASK)
    out = tenv.step("".join(half))
    assert out.reward == 2 / (len(real.frames) - 1)


def test_imagined_feedback_agreement_and_cost():
    real = _real()
    good = ImaginedEnv(OutputEnv(ImaginedExecutor(perfect_backend(real))), OutputEnv())
    good.reset(TASK)
    out = good.step(_return_action("3"))
    assert out.reward == 1.0 and out.info["agree"] is True
    assert out.info["imagined_s"] >= 0 and out.info["real_s"] >= 0
    # A world model that imagines the loop wrongly (it never returns): the
    # imagined reward is 0 while the real one is 1, and the disagreement is recorded.
    bad = ImaginedEnv(OutputEnv(ImaginedExecutor(ScriptedBackend(["junk"]))), OutputEnv())
    bad.reset(TASK)
    out = bad.step(_return_action("3"))
    assert out.reward == 0.0 and out.info["real_reward"] == 1.0 and out.info["agree"] is False
