// The Node SDK's runs.stream(...) on a run that uses file_search, as chat UIs use it.
// Usage: node stream_file_search.cjs BASE_URL API_KEY THREAD_ID ASSISTANT_ID
// Prints one JSON line: {status, tool_calls: [type, ...], text, annotations}.
const OpenAI = require("openai");

async function main() {
  const [baseURL, apiKey, threadId, assistantId] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const toolCalls = [];
  const stream = client.beta.threads.runs
    .stream(threadId, {
      assistant_id: assistantId,
      include: ["step_details.tool_calls[*].file_search.results[*].content"],
    })
    .on("toolCallCreated", (call) => toolCalls.push(call.type));
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  const part = messages[messages.length - 1].content[0];
  console.log(
    JSON.stringify({
      status: run.status,
      tool_calls: toolCalls,
      text: part.text.value,
      annotations: part.text.annotations,
    }),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
