"""The exported SFT task message is the reset text the agent received (a real episode)."""

from __future__ import annotations

from pathlib import Path

import dojo_nb
from dojo_nb.export import load_episode, rl_transitions, sft_record


def test_exported_task_message_equals_the_reset_text(tmp_path: Path) -> None:
    env = dojo_nb.make("iris-species", out_dir=tmp_path / "ep", max_steps=3)
    obs, _ = env.reset()
    env.step({"type": "execute_code", "code": "print(1 + 1)"})
    env.step({"type": "add_markdown", "text": "a note"})
    env.close()
    ep = load_episode(env.episode_dir)
    assert sft_record(ep)["messages"][1]["content"] == obs["text"]
    assert rl_transitions(ep)[0]["observation"] == obs["text"]
