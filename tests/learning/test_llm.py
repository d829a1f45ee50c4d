"""The LLM layer of the learning loop, offline, with scripted LangChain and LlamaIndex fakes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
from llama_index.core.llms.callbacks import llm_completion_callback

import autoskill.llm
from autoskill.errors import ConfigError, LLMError, MissingDependencyError, ProviderNotFoundError
from autoskill.learning.heuristic import HeuristicExtractor
from autoskill.learning.maintain import merge_skills
from autoskill.llm import (
    BaseLLM,
    LangChainChatLLM,
    LlamaIndexLLM,
    LLMExtractor,
    LLMJudge,
    LLMMerger,
    MockLLM,
    create_extractor,
    create_llm,
    parse_json_answer,
)
from autoskill.llm.base import REPAIR_PROMPT, JSONAnswerError, schema_problems
from autoskill.providers.registry import available_providers, create_provider
from autoskill.retrieval.context import render_skills_context
from autoskill.skill.model import Skill

# -- scripted fakes ---------------------------------------------------------------------------


class RecordingFakeChat(FakeListChatModel):
    """FakeListChatModel that also records every chat it was sent."""

    seen: list[list[BaseMessage]] = []

    def _call(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
        self.seen.append(list(messages))
        return super()._call(messages, stop=stop, run_manager=run_manager, **kw)


class ScriptedLlamaLLM(CustomLLM):
    """A LlamaIndex LLM answering scripted texts in order and recording its prompts."""

    answers: list[str] = []
    prompts: list[str] = []

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.answers.pop(0))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise NotImplementedError


def lc(*answers: str) -> LangChainChatLLM:
    return LangChainChatLLM(RecordingFakeChat(responses=list(answers)))


def seen_text(llm: LangChainChatLLM) -> list[str]:
    """Each call's messages joined, for assertions on what the model was shown."""
    return ["\n".join(str(m.content) for m in chat) for chat in llm.wrapped.seen]


RELEASE_CHAT = [
    {"role": "user", "content": "Our release flow: run regression tests, then canary rollout, "
                                "then monitor error rates, and finally full rollout."},
    {"role": "assistant", "content": "Got it."},
]

RELEASE_ANSWER = {
    "skills": [
        {
            "name": "release-workflow",
            "description": "How this team ships a release.",
            "instructions": ["1. Run regression tests", "Canary rollout", "Monitor error rates", "Full rollout"],
            "triggers": ["release", "ship a version"],
            "tags": ["release", "deploy"],
            "confidence": 0.9,
            "evidence": ["run regression tests, then   CANARY rollout", "and finally full rollout"],
            "kind": "procedure",
        }
    ]
}


# -- JSON parsing -----------------------------------------------------------------------------


def test_parse_json_answer_is_lenient() -> None:
    assert parse_json_answer('Sure!\n```json\n{"a": [1, 2,],}\n```\nDone.') == {"a": [1, 2]}
    assert parse_json_answer('<think>{maybe}</think> Here: {"a": {"b": 1}} ok') == {"a": {"b": 1}}
    with pytest.raises(JSONAnswerError, match="no JSON object"):
        parse_json_answer("I cannot do that.")
    with pytest.raises(JSONAnswerError, match="missing the key 'same'"):
        parse_json_answer('{"reason": "x"}', {"type": "object", "required": ["same"]})


def test_schema_problems_names_the_path() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "number"}}}}
    assert schema_problems({"items": [1, "x", True]}, schema) == [
        "$.items[1] should be number, got str",
        "$.items[2] should be number, got bool",
    ]


# -- complete / complete_json through the adapters ---------------------------------------------


def test_langchain_complete_converts_roles() -> None:
    llm = lc("hello back")
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"}, {"role": "user", "content": "again"}]
    assert llm.complete(chat) == "hello back"
    kinds = [type(m).__name__ for m in llm.wrapped.seen[0]]
    assert kinds == ["SystemMessage", "HumanMessage", "AIMessage", "HumanMessage"]
    assert llm.identity == "langchain:RecordingFakeChat"
    with pytest.raises(ValueError, match="role 'tool'"):
        llm.complete([{"role": "tool", "content": "x"}])


def test_broken_json_gets_one_repair_call_the_model_sees() -> None:
    llm = lc('{"same": tru', '```json\n{"same": true, "reason": "both release"}\n```')
    answer = llm.complete_json([{"role": "user", "content": "same?"}], {"type": "object", "required": ["same"]})
    assert answer == {"same": True, "reason": "both release"}
    first, repair = llm.wrapped.seen
    assert "JSON Schema" in first[-1].content
    assert len(repair) == len(first) + 2
    assert repair[-2].content == '{"same": tru'  # the model is shown its broken answer
    assert repair[-1].content.startswith(REPAIR_PROMPT.split("{error}")[0])
    assert "no JSON object found" in repair[-1].content


def test_broken_twice_raises_llm_error_naming_the_problem() -> None:
    llm = lc("not json", '{"reason": "still no verdict"}')
    with pytest.raises(LLMError, match="after one repair.*missing the key 'same'"):
        llm.complete_json([{"role": "user", "content": "same?"}], {"type": "object", "required": ["same"]})
    assert len(llm.wrapped.seen) == 2


async def test_async_twins_share_the_json_logic() -> None:
    llm = LangChainChatLLM(GenericFakeChatModel(messages=iter([AIMessage(content="oops"), '{"same": false}'])))
    assert await llm.acomplete_json([{"role": "user", "content": "?"}], {"type": "object"}) == {"same": False}
    llama = LlamaIndexLLM(ScriptedLlamaLLM(answers=["pong"]))
    assert await llama.acomplete([{"role": "user", "content": "ping"}]) == "pong"


def test_fake_models_skip_structured_output_and_never_bind_tools() -> None:
    class Guarded(RecordingFakeChat):
        def bind_tools(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("bind_tools must not be called")

    llm = LangChainChatLLM(Guarded(responses=['{"ok": true}']))
    assert llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"}) == {"ok": True}


def test_structured_output_used_when_the_model_class_implements_it() -> None:
    calls: list[tuple[Any, str]] = []

    class Structured(RecordingFakeChat):
        def with_structured_output(self, schema: Any, *, method: str = "", **kwargs: Any) -> Any:
            from langchain_core.runnables import RunnableLambda

            calls.append((schema, method))
            return RunnableLambda(lambda _: {"same": True, "reason": "native"})

    llm = LangChainChatLLM(Structured(responses=["unused"]))
    answer = llm.complete_json([{"role": "user", "content": "x"}], {"type": "object", "required": ["same"]})
    assert answer == {"same": True, "reason": "native"}
    assert calls[0][1] == "json_schema" and llm.wrapped.seen == []


def test_structured_output_failure_falls_back_to_text() -> None:
    class Refuses(RecordingFakeChat):
        def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("no json_schema here")

    llm = LangChainChatLLM(Refuses(responses=['{"same": false, "reason": "r"}']))
    assert llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"})["same"] is False


def test_llamaindex_adapter_chat_and_json() -> None:
    scripted = ScriptedLlamaLLM(answers=["plain answer", "garbage", '{"same": true, "reason": "r"}'])
    llm = LlamaIndexLLM(scripted)
    assert llm.identity == "llamaindex:ScriptedLlamaLLM"
    assert llm.complete([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]) == "plain answer"
    assert "system: S" in scripted.prompts[0] and "user: U" in scripted.prompts[0]
    assert llm.complete_json([{"role": "user", "content": "?"}], {"type": "object"})["same"] is True
    assert "could not be used" in scripted.prompts[-1]


def test_model_errors_become_llm_error() -> None:
    class Exploding(RecordingFakeChat):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError("connection reset")

    with pytest.raises(LLMError, match="connection reset"):
        LangChainChatLLM(Exploding(responses=["x"])).complete([{"role": "user", "content": "hi"}])


# -- extraction ---------------------------------------------------------------------------------


def test_extracts_release_procedure_with_steps_in_order() -> None:
    llm = lc(json.dumps(RELEASE_ANSWER))
    [candidate] = LLMExtractor(llm).extract(RELEASE_CHAT, user_id="u1")
    skill = candidate.skill
    assert skill.name == "release-workflow" and skill.user_id == "u1" and skill.scope == "user"
    assert skill.instructions == "1. Run regression tests\n2. Canary rollout\n3. Monitor error rates\n4. Full rollout"
    assert skill.triggers == ("release", "ship a version")
    assert candidate.confidence == 0.9 and candidate.kind == "procedure"
    prompt = seen_text(llm)[0]
    assert "only what the USER stated or confirmed" in prompt
    assert "USER: Our release flow:" in prompt and "ASSISTANT: Got it." in prompt


def test_evidence_not_in_user_turns_is_dropped() -> None:
    invented = dict(RELEASE_ANSWER["skills"][0], name="invented", evidence=["rollback on any alert"])
    from_assistant = dict(RELEASE_ANSWER["skills"][0], name="assistant-said", evidence=["Got it"])
    no_evidence = dict(RELEASE_ANSWER["skills"][0], name="bare", evidence=[])
    answer = {"skills": [invented, from_assistant, no_evidence, RELEASE_ANSWER["skills"][0]]}
    candidates = LLMExtractor(lc(json.dumps(answer))).extract(RELEASE_CHAT, user_id="u1")
    assert [c.skill.name for c in candidates] == ["release-workflow"]


def test_assistant_proposal_counts_when_the_user_confirms_it() -> None:
    chat = [
        {"role": "user", "content": "How should we rotate the API keys?"},
        {"role": "assistant", "content": "Create the new key, deploy it, then revoke the old key."},
        {"role": "user", "content": "Yes, exactly, that's our process."},
    ]
    item = {"name": "key-rotation", "instructions": ["Create the new key", "Deploy it", "Revoke the old key"],
            "confidence": 0.8, "evidence": ["create the new key, deploy it", "yes, exactly"]}
    [candidate] = LLMExtractor(lc(json.dumps({"skills": [item]}))).extract(chat)
    assert candidate.skill.name == "key-rotation"
    unconfirmed = [*chat[:2], {"role": "user", "content": "No, that's wrong."}]
    assert LLMExtractor(lc(json.dumps({"skills": [item]}))).extract(unconfirmed) == []


def test_low_confidence_is_dropped() -> None:
    item = dict(RELEASE_ANSWER["skills"][0], confidence=0.3)
    assert LLMExtractor(lc(json.dumps({"skills": [item]}))).extract(RELEASE_CHAT) == []
    assert len(LLMExtractor(lc(json.dumps({"skills": [item]})), min_confidence=0.2).extract(RELEASE_CHAT)) == 1


def test_extraction_repairs_broken_json_once() -> None:
    llm = lc(json.dumps(RELEASE_ANSWER)[:-5], json.dumps(RELEASE_ANSWER))
    [candidate] = LLMExtractor(llm).extract(RELEASE_CHAT, user_id="u1")
    assert candidate.skill.name == "release-workflow"
    assert "could not be used" in seen_text(llm)[1]


def test_unusable_answer_returns_nothing_or_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    assert LLMExtractor(lc("nope", "still nope")).extract(RELEASE_CHAT, user_id="u1") == []
    assert "skill extraction failed" in caplog.text
    with_fallback = LLMExtractor(lc("nope", "still nope"), fallback=HeuristicExtractor())
    [candidate] = with_fallback.extract(RELEASE_CHAT, user_id="u1")
    assert candidate.skill.instructions.startswith("1. Run regression tests")


async def test_async_extract() -> None:
    llm = LlamaIndexLLM(ScriptedLlamaLLM(answers=[json.dumps(RELEASE_ANSWER)]))
    [candidate] = await LLMExtractor(llm).aextract(RELEASE_CHAT, user_id="u1")
    assert candidate.skill.name == "release-workflow"


def test_create_extractor_uses_the_heuristic_for_mock() -> None:
    assert isinstance(create_extractor(MockLLM()), HeuristicExtractor)
    extractor = create_extractor(lc("{}"))
    assert isinstance(extractor, LLMExtractor) and isinstance(extractor.fallback, HeuristicExtractor)


# -- maintenance --------------------------------------------------------------------------------

EXISTING = Skill(name="release-workflow", description="Ship a release.", user_id="u1",
                 instructions="1. Run regression tests\n2. Canary rollout\n3. Full rollout",
                 triggers=["release"], tags=["release"])
CANDIDATE = Skill(name="deploy-steps", description="Deploy.", user_id="u1",
                  instructions="1. Run regression tests\n2. Canary rollout\n3. Monitor dashboards\n4. Full rollout",
                  triggers=["deploy"], tags=["deploy"])


def test_judge_same_different_unusable() -> None:
    same = lc('{"same": true, "reason": "both ship a release"}')
    assert LLMJudge(same)(CANDIDATE, EXISTING) is True
    text = seen_text(same)[0]
    assert "same procedure" in text and "name: deploy-steps" in text and "name: release-workflow" in text
    assert LLMJudge(lc('{"same": false, "reason": "different goals"}'))(CANDIDATE, EXISTING) is False
    assert LLMJudge(lc("maybe?", '{"same": "perhaps"}'))(CANDIDATE, EXISTING) is None
    assert LLMJudge(MockLLM())(CANDIDATE, EXISTING) is None


def test_llm_merge_keeps_identity_and_version() -> None:
    answer = {"description": "Ship a release safely.",
              "instructions": ["Run regression tests", "Canary rollout", "Monitor dashboards", "Full rollout"],
              "triggers": ["release", "deploy"]}
    merged = LLMMerger(lc(json.dumps(answer)))(EXISTING, CANDIDATE)
    assert (merged.id, merged.name, merged.user_id, merged.version) == (
        EXISTING.id, EXISTING.name, EXISTING.user_id, EXISTING.version)
    assert merged.instructions.split("\n")[2] == "3. Monitor dashboards"
    assert merged.description == "Ship a release safely."
    assert merged.triggers == ("release", "deploy") and set(merged.tags) == {"release", "deploy"}


def test_llm_merge_falls_back_to_merge_skills() -> None:
    merged = LLMMerger(lc("no", "still no"))(EXISTING, CANDIDATE)
    heuristic = merge_skills(EXISTING, CANDIDATE)
    assert merged.instructions == heuristic.instructions and "Monitor dashboards" in merged.instructions
    assert merged.version == EXISTING.version  # the bump is the caller's
    empty = LLMMerger(lc('{"description": "", "instructions": [], "triggers": []}'))(EXISTING, CANDIDATE)
    assert empty.instructions == heuristic.instructions


def test_llm_merge_correction_prompt() -> None:
    answer = {"description": "Ship.", "instructions": ["Run smoke tests", "Full rollout"], "triggers": []}
    llm = lc(json.dumps(answer))
    merged = LLMMerger(llm)(EXISTING, CANDIDATE, correction=True)
    assert merged.instructions == "1. Run smoke tests\n2. Full rollout"
    assert "correction" in seen_text(llm)[0]


# -- create_llm and providers -------------------------------------------------------------------


def test_create_llm_accepts_each_kind() -> None:
    mock = MockLLM()
    assert create_llm(mock) is mock
    assert isinstance(create_llm({"provider": "mock"}), MockLLM)
    assert isinstance(create_llm("mock"), MockLLM)
    chat = FakeListChatModel(responses=["x"])
    wrapped = create_llm(chat)
    assert isinstance(wrapped, LangChainChatLLM) and wrapped.wrapped is chat
    llama = ScriptedLlamaLLM(answers=["y"])
    assert isinstance(create_llm(llama), LlamaIndexLLM) and create_llm(llama).complete(
        [{"role": "user", "content": "q"}]) == "y"

    class Custom(BaseLLM):
        identity = "custom"

        def complete(self, messages: Sequence[Any]) -> str:
            return "{}"

    custom = Custom()
    assert create_llm(custom) is custom
    with pytest.raises(ConfigError, match="cannot build an LLM"):
        create_llm(42)
    with pytest.raises(ProviderNotFoundError):
        create_llm({"provider": "nope"})
    with pytest.raises(ConfigError, match="bad options"):
        create_llm({"provider": "mock", "model": "x"})


def test_builtin_providers_are_registered() -> None:
    assert {"mock", "openai", "anthropic", "glm"} <= set(available_providers("llm"))


@pytest.mark.parametrize(
    ("config", "package", "extra"),
    [
        ({"provider": "openai", "model": "gpt-4o-mini", "api_key": "k"}, "langchain-openai", "openai"),
        ({"provider": "anthropic", "model": "claude-3-5-sonnet-latest", "api_key": "k"},
         "langchain-anthropic", "anthropic"),
        ({"provider": "glm", "model": "glm-4.7", "api_key": "id.secret", "auth_mode": "jwt"},
         "langchain-openai", "openai"),
    ],
)
def test_real_providers_need_their_integration_package(config: dict[str, Any], package: str, extra: str) -> None:
    assert _absent(package.replace("-", "_"))  # these tests describe a machine without them
    with pytest.raises(MissingDependencyError) as info:
        create_provider("llm", config)
    assert info.value.package == package
    assert f'pip install "autoskill[{extra}]"' in str(info.value)


def _absent(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def test_glm_rejects_a_bad_auth_mode_and_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the integration package absent, the dependency error comes first (as for embeddings);
    # stub the import to reach the checks that follow it.
    import autoskill.llm.providers as providers

    built: list[dict[str, Any]] = []

    def fake_chat_openai(**kwargs: Any) -> FakeListChatModel:
        built.append(kwargs)
        return FakeListChatModel(responses=["x"])

    monkeypatch.setattr(providers, "_import_chat_openai", lambda feature: fake_chat_openai)
    monkeypatch.delenv("ZHIPUAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ZHIPUAI_API_KEY"):
        create_provider("llm", {"provider": "glm"})
    with pytest.raises(ConfigError, match="auth_mode"):
        create_provider("llm", {"provider": "glm", "api_key": "id.secret", "auth_mode": "oauth"})
    llm = create_provider("llm", {"provider": "glm", "api_key": "id.secret", "auth_mode": "jwt"})
    assert llm.identity == "glm:glm-4.7"
    assert built[-1]["base_url"] == "https://open.bigmodel.cn/api/paas/v4/"
    assert built[-1]["api_key"] != "id.secret" and built[-1]["api_key"].count(".") == 2  # a signed JWT
    create_provider("llm", {"provider": "glm", "api_key": "id.secret"})
    assert built[-1]["api_key"] == "id.secret"  # auto sends the key as is
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        create_provider("llm", {"provider": "openai"})


def test_import_autoskill_llm_loads_no_framework() -> None:
    code = (
        "import sys, autoskill.llm\n"
        "from autoskill.providers.registry import available_providers\n"
        "available_providers('llm')\n"
        "from autoskill.llm import create_llm, LLMExtractor\n"
        "create_llm({'provider': 'mock'}).complete([{'role': 'user', 'content': 'hi'}])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('langchain', 'langchain_core', 'llama_index'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_api_is_sorted() -> None:
    assert autoskill.llm.__all__ == sorted(autoskill.llm.__all__)
    assert "create_llm" in autoskill.llm.__all__ and "LLMExtractor" in autoskill.llm.__all__


# -- the mock model -----------------------------------------------------------------------------


def test_mock_applies_the_matching_skill_from_the_context() -> None:
    other = Skill(name="email-style", description="How to write emails.", user_id="u1",
                  instructions="- Greet by first name\n- Sign off with Best", triggers=["write an email"])
    context = render_skills_context([other, EXISTING]).text
    chat = [{"role": "system", "content": f"You are helpful.\n\n{context}"},
            {"role": "user", "content": "How should I do a release?"}]
    answer = MockLLM().complete(chat)
    assert answer == ('Following the skill "release-workflow":\n'
                      "1. Run regression tests\n2. Canary rollout\n3. Full rollout")
    email = MockLLM().complete([chat[0], {"role": "user", "content": "Write an email to Bob"}])
    assert email == 'Following the skill "email-style":\n1. Greet by first name\n2. Sign off with Best'


def test_mock_without_context_acknowledges_and_has_no_json() -> None:
    mock = MockLLM()
    assert mock.complete([{"role": "user", "content": "hello"}]) == "Got it."
    assert mock.identity == "mock"
    with pytest.raises(LLMError, match="HeuristicExtractor"):
        mock.complete_json([{"role": "user", "content": "x"}], {"type": "object"})


async def test_mock_async() -> None:
    assert await MockLLM().acomplete([{"role": "user", "content": "hello"}]) == "Got it."
    with pytest.raises(LLMError):
        await MockLLM().acomplete_json([{"role": "user", "content": "x"}], {"type": "object"})
