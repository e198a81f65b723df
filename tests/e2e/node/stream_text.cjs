// The Node SDK's runs.stream(...).on('textDelta', ...), as chat UIs use it.
// Usage: node stream_text.cjs BASE_URL API_KEY THREAD_ID ASSISTANT_ID
// Prints one JSON line: {deltas: [[ms since start, text], ...], total_ms, final_text, status}.
const OpenAI = require("openai");

async function main() {
  const [baseURL, apiKey, threadId, assistantId] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const started = performance.now();
  const deltas = [];
  const stream = client.beta.threads.runs
    .stream(threadId, { assistant_id: assistantId })
    .on("textDelta", (delta) => deltas.push([performance.now() - started, delta.value]));
  const run = await stream.finalRun();
  const messages = await stream.finalMessages();
  const total = performance.now() - started;
  const finalText = messages.map((m) => m.content.map((c) => c.text.value).join("")).join("\n");
  console.log(JSON.stringify({ deltas, total_ms: total, final_text: finalText, status: run.status }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
