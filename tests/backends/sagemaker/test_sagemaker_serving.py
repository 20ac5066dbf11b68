"""Payloads and response parsing for TGI and DJL LMI serving containers."""

from __future__ import annotations

import json

import pytest

from finetune_sdk.backends.base import InferenceConfig
from finetune_sdk.backends.sagemaker import serving
from finetune_sdk.data.records import Turn
from finetune_sdk.errors import ServiceValidationError

pytestmark = pytest.mark.sagemaker

TURNS = (Turn.of("user", "What is 2+2?"), Turn.of("assistant", "4"), Turn.of("user", "And 3+3?"))


def test_llama3_chat_template() -> None:
    prompt = serving.llama3_chat_prompt("Be brief.", TURNS)
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_tgi_parameters_greedy_and_sampled() -> None:
    greedy = serving.build_request("tgi", "llama3_chat", None, TURNS[:1], InferenceConfig(max_tokens=10))
    assert greedy["parameters"] == {
        "max_new_tokens": 10,
        "details": True,
        "return_full_text": False,
        "do_sample": False,
        "stop": ["<|eot_id|>"],
    }
    sampled = serving.build_request(
        "tgi",
        "llama3_chat",
        None,
        TURNS[:1],
        InferenceConfig(max_tokens=10, temperature=0.7, top_p=0.9, stop=("###",)),
    )
    assert sampled["parameters"]["do_sample"] is True and sampled["parameters"]["temperature"] == 0.7
    assert sampled["parameters"]["top_p"] == 0.9 and sampled["parameters"]["stop"] == ["<|eot_id|>", "###"]
    top_one = serving.build_request("tgi", "llama3_chat", None, TURNS[:1], InferenceConfig(top_p=1.0))
    assert "top_p" not in top_one["parameters"]  # TGI requires 0 < top_p < 1


def test_jumpstart_instruction_prompt_matches_training_template() -> None:
    body = serving.build_request(
        "tgi", "jumpstart_instruction", "Answer with a number.", TURNS[:1], InferenceConfig()
    )
    assert body["inputs"].startswith("Below is an instruction")
    assert "### Instruction:\nAnswer with a number.\n\nWhat is 2+2?" in body["inputs"]
    assert "stop" not in body["parameters"]


def test_messages_body() -> None:
    body = serving.build_request("messages", "llama3_chat", "Be brief.", TURNS, InferenceConfig(max_tokens=5))
    assert body == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
        "max_tokens": 5,
        "temperature": 0.0,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'[{"generated_text": " 6<|eot_id|>", "details": {"finish_reason": "eos_token",'
            b' "generated_tokens": 2, "prefill": [{"id": 1}, {"id": 2}, {"id": 3}]}}]',
            ("6", "end_turn", 3, 2),
        ),
        (
            b'{"generated_text": "6", "details": {"finish_reason": "length", "generated_tokens": 8}}',
            ("6", "max_tokens", None, 8),
        ),
        (b'{"generated_text": "6"}', ("6", None, None, None)),
        (
            b'{"choices": [{"message": {"role": "assistant", "content": "6"}, "finish_reason": "stop"}],'
            b' "usage": {"prompt_tokens": 12, "completion_tokens": 1}}',
            ("6", "end_turn", 12, 1),
        ),
        (b'[{"generation": "6"}]', ("6", None, None, None)),
        (b'{"choices": [{"text": "6", "finish_reason": "length"}]}', ("6", "max_tokens", None, None)),
    ],
)
def test_responses_are_normalised(body: bytes, expected: tuple[object, ...]) -> None:
    assert tuple(serving.parse_response(body)) == expected


def test_echoed_prompt_is_removed() -> None:
    prompt = serving.llama3_chat_prompt(None, TURNS[:1])
    body = json.dumps([{"generated_text": prompt + "4<|eot_id|>"}])
    assert serving.parse_response(body, prompt=prompt).text == "4"


@pytest.mark.parametrize(
    "body",
    [b"body", b'{"error": "Input validation error", "error_type": "validation"}', b'{"unexpected": 1}'],
)
def test_unusable_answers_raise_with_a_hint(body: bytes) -> None:
    with pytest.raises(ServiceValidationError, match=r"error|payload|dialect"):
        serving.parse_response(body)


def test_guess_dialect() -> None:
    assert serving.guess_dialect("x/huggingface-pytorch-tgi-inference:2.4.0-tgi2.4.0-gpu") == "tgi"
    assert serving.guess_dialect("x/djl-inference:0.31.0-lmi13.0.0-cu124") == "messages"
    assert serving.guess_dialect("x/my-own-server:1") is None
    assert serving.guess_dialect(None) is None
