"""Errors as SDK users meet them: exception classes and the exact texts clients string-match."""

from __future__ import annotations

import httpx2
import openai
import pytest

from tests.e2e.conftest import LiveServer, make_client, make_http
from tests.e2e.helpers import error_message, waiting_run

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BETA_MESSAGE = (
    "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again "
    "by setting the header 'OpenAI-Beta: assistants=v2'."
)
MISSING_RUN = "run_00000000000000000000zzzz"
MISSING_THREAD = "thread_00000000000000000000zzzz"


def test_second_run_while_one_is_active(client: openai.OpenAI) -> None:
    assistant, thread, run = waiting_run(client)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert error_message(caught.value) == (
        f"Thread {thread.id} already has an active run {run.id}."
    )
    assert caught.value.status_code == 400
    assert caught.value.type == "invalid_request_error"

    before = [m.id for m in client.beta.threads.messages.list(thread.id)]
    with pytest.raises(openai.BadRequestError) as with_messages:
        client.beta.threads.runs.create(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_messages=[{"role": "user", "content": "must not be added"}],
        )
    assert error_message(with_messages.value) == error_message(caught.value)
    after = [m.id for m in client.beta.threads.messages.list(thread.id)]
    assert after == before, "a refused run adds none of its additional_messages"


def test_message_while_a_run_is_active(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")
    assert error_message(caught.value) == (
        f"Can't add messages to {thread.id} while a run {run.id} is active."
    )


def test_cancel_a_completed_run(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "done"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    with pytest.raises(openai.BadRequestError) as cancel:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert error_message(cancel.value) == "Cannot cancel run with status 'completed'."
    with pytest.raises(openai.BadRequestError) as submit:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
        )
    assert error_message(submit.value) == ('Runs in status "completed" do not accept tool outputs.')
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"


def test_not_found_texts(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    other = client.beta.threads.create(messages=[{"role": "user", "content": "y"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    runs = client.beta.threads.runs

    with pytest.raises(openai.NotFoundError) as unknown_run:
        runs.retrieve(MISSING_RUN, thread_id=thread.id)
    assert error_message(unknown_run.value) == f"No run found with id '{MISSING_RUN}'."
    assert unknown_run.value.status_code == 404

    with pytest.raises(openai.NotFoundError) as wrong_thread:
        runs.retrieve(run.id, thread_id=other.id)
    assert error_message(wrong_thread.value) == f"No run found with id '{run.id}'."

    with pytest.raises(openai.NotFoundError) as unknown_thread:
        runs.list(thread_id=MISSING_THREAD)
    assert error_message(unknown_thread.value) == f"No thread found with id '{MISSING_THREAD}'."

    step_id = "step_00000000000000000000zzzz"
    with pytest.raises(openai.NotFoundError) as unknown_step:
        runs.steps.retrieve(step_id, thread_id=thread.id, run_id=run.id)
    assert error_message(unknown_step.value) == f"No step found with id '{step_id}'."

    msg_id = "msg_00000000000000000000zzzz"
    with pytest.raises(openai.NotFoundError) as unknown_message:
        client.beta.threads.messages.retrieve(msg_id, thread_id=thread.id)
    assert error_message(unknown_message.value) == f"No message found with id '{msg_id}'."

    asst_id = "asst_00000000000000000000zzzz"
    with pytest.raises(openai.NotFoundError) as unknown_assistant:
        runs.create(thread_id=thread.id, assistant_id=asst_id)
    assert error_message(unknown_assistant.value) == f"No assistant found with id '{asst_id}'."

    with pytest.raises(openai.NotFoundError) as cancel_unknown:
        runs.cancel(MISSING_RUN, thread_id=thread.id)
    assert error_message(cancel_unknown.value) == f"No run found with id '{MISSING_RUN}'."


def test_another_projects_objects_answer_404_like_missing_ones(
    client: openai.OpenAI, other_client: openai.OpenAI
) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "mine"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    message = next(iter(client.beta.threads.messages.list(thread_id=thread.id)))

    def not_found(call: object, *args: object, **kwargs: object) -> openai.NotFoundError:
        assert callable(call)
        with pytest.raises(openai.NotFoundError) as caught:
            call(*args, **kwargs)
        return caught.value

    foreign = not_found(other_client.beta.threads.retrieve, thread.id)
    missing = not_found(client.beta.threads.retrieve, MISSING_THREAD)
    assert isinstance(missing.body, dict)
    expected = {**missing.body, "message": f"No thread found with id '{thread.id}'."}
    assert foreign.body == expected, "a foreign thread must look exactly like a missing one"
    foreign_run = not_found(other_client.beta.threads.runs.retrieve, run.id, thread_id=thread.id)
    assert error_message(foreign_run) == f"No thread found with id '{thread.id}'."
    foreign_asst = not_found(other_client.beta.assistants.retrieve, assistant.id)
    assert error_message(foreign_asst) == f"No assistant found with id '{assistant.id}'."
    foreign_msg = not_found(
        other_client.beta.threads.messages.retrieve, message.id, thread_id=thread.id
    )
    assert error_message(foreign_msg) == f"No thread found with id '{thread.id}'."
    not_found(other_client.beta.threads.delete, thread.id)
    not_found(other_client.beta.threads.runs.cancel, run.id, thread_id=thread.id)
    not_found(other_client.beta.threads.runs.create, thread_id=thread.id, assistant_id=assistant.id)
    assert list(other_client.beta.assistants.list()) == []
    assert client.beta.threads.retrieve(thread.id).id == thread.id, "the owner still sees it"


def test_tool_output_validation(client: openai.OpenAI) -> None:
    _, thread, run = waiting_run(client)
    assert run.required_action is not None
    [call] = run.required_action.submit_tool_outputs.tool_calls
    runs = client.beta.threads.runs
    bad_requests: list[list[dict[str, str]]] = [
        [],
        [{"tool_call_id": "call_00000000000000000000zzzz", "output": "x"}],
        [{"tool_call_id": call.id, "output": "a"}, {"tool_call_id": call.id, "output": "b"}],
    ]
    for outputs in bad_requests:
        with pytest.raises(openai.BadRequestError) as caught:
            runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=outputs)
        assert caught.value.param == "tool_outputs", (outputs, caught.value.body)
    assert runs.retrieve(run.id, thread_id=thread.id).status == "requires_action"


def test_validation_errors_name_the_param(client: openai.OpenAI) -> None:
    for limit in (0, 101):
        with pytest.raises(openai.BadRequestError) as caught:
            client.beta.assistants.list(limit=limit)
        assert caught.value.param == "limit"
    too_many = {f"k{i}": "v" for i in range(17)}
    with pytest.raises(openai.BadRequestError) as metadata:
        client.beta.assistants.create(model="gpt-4o", metadata=too_many)
    assert metadata.value.param is not None and metadata.value.param.startswith("metadata")
    with pytest.raises(openai.BadRequestError) as long_value:
        client.beta.threads.create(metadata={"k": "v" * 513})
    assert long_value.value.param is not None and long_value.value.param.startswith("metadata")


def test_missing_beta_header(http: httpx2.Client) -> None:
    for headers in ({}, {"OpenAI-Beta": "assistants=v1"}):
        http.headers.pop("OpenAI-Beta", None)
        response = http.get("/assistants", headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_beta"
        assert error["message"] == BETA_MESSAGE
        assert error["type"] == "invalid_request_error"


def test_bad_api_keys(server: LiveServer) -> None:
    for key in ("short", "has spaces in it", "x" * 201):
        with make_client(server, key) as sdk, pytest.raises(openai.AuthenticationError) as caught:
            sdk.beta.assistants.list()
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key", (key, caught.value.body)
        assert caught.value.type == "invalid_request_error"

    with make_http(server, None) as anonymous:
        response = anonymous.get("/assistants")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
