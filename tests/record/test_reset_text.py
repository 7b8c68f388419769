"""The exported SFT task message is the one an LLM agent sends for the reset it received (a real
episode): the reset text, the task's facts and the budget left, rendered by the same function."""

from __future__ import annotations

from pathlib import Path

import dojo_nb
from dojo_nb.agents.llm import MAX_OBSERVATION_CHARS
from dojo_nb.export import load_episode, rl_transitions, sft_record
from dojo_nb.record.view import task_message


def test_exported_task_message_equals_the_reset_text(tmp_path: Path) -> None:
    env = dojo_nb.make("iris-species", out_dir=tmp_path / "ep", max_steps=3)
    obs, info = env.reset()
    env.step({"type": "execute_code", "code": "print(1 + 1)"})
    env.step({"type": "add_markdown", "text": "a note"})
    env.close()
    ep = load_episode(env.episode_dir)
    sent = task_message(obs["text"], info["task"], obs["steps_left"], obs["seconds_left"], 4 * MAX_OBSERVATION_CHARS)
    assert sft_record(ep)["messages"][1]["content"] == sent
    assert sent.startswith(obs["text"] + "\n\nTask facts: ")
    assert rl_transitions(ep)[0]["observation"] == obs["text"]
