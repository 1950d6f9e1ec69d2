import type { ChatMessage } from "@/lib/tools";

type Part = ChatMessage["parts"][number];
type WeatherPart = Extract<Part, { type: "tool-weather" }>;

const TOOL_STATE_TEXT: Partial<Record<WeatherPart["state"], string>> = {
  "input-streaming": "preparing…",
  "input-available": "running…",
  "output-available": "done",
  "output-error": "failed",
};

/**
 * One message: its text parts, and the weather tool's parts (input, then output). In the running
 * answer, the tail of the text that is not committed yet (`uncommittedText`) is dimmed: a retried
 * model call may still take it back.
 */
export function MessageView({ message, uncommittedText, rollbacks }: { message: ChatMessage; uncommittedText: string; rollbacks: string[] }) {
  const lastText = message.parts.findLastIndex((part) => part.type === "text");
  return (
    <li className="message" data-testid="message" data-role={message.role}>
      <span className="who">{message.role === "user" ? "You" : "Assistant"}</span>
      {message.parts.map((part, index) => {
        switch (part.type) {
          case "text":
            // biome-ignore lint/suspicious/noArrayIndexKey: parts have no ids; their order is stable.
            return <TextPart key={index} text={part.text} uncommittedText={index === lastText ? uncommittedText : ""} />;
          case "tool-weather":
            return <WeatherToolPart key={part.toolCallId} part={part} />;
          default:
            return null; // step-start, reasoning, sources…: not shown
        }
      })}
      {rollbacks.length > 0 && (
        <ul className="notes">
          {rollbacks.map((text, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: notes are only appended.
            <li key={index} className="rollback" data-testid="rollback-note">
              ↺ A model call failed after “{text.trim()}”: rolled back and retried.
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function TextPart({ text, uncommittedText }: { text: string; uncommittedText: string }) {
  // The chat applies a chunk a little after the transport saw it: dim at most this part's text.
  const dimmed = Math.min(uncommittedText.length, text.length);
  return (
    <p className="text" data-testid="text-part">
      {text.slice(0, text.length - dimmed)}
      {dimmed > 0 && (
        <span className="uncommitted" data-testid="uncommitted" title="Not committed yet: a retried model call may take it back">
          {text.slice(text.length - dimmed)}
        </span>
      )}
    </p>
  );
}

function WeatherToolPart({ part }: { part: WeatherPart }) {
  return (
    <div className="tool" data-testid="tool-part" data-state={part.state}>
      <span className="tool-name">
        weather tool · <span data-testid="tool-state">{TOOL_STATE_TEXT[part.state] ?? part.state}</span>
      </span>
      {part.input !== undefined && <code data-testid="tool-input">input: {JSON.stringify(part.input)}</code>}
      {part.state === "output-available" && <code data-testid="tool-output">output: {JSON.stringify(part.output)}</code>}
      {part.state === "output-error" && (
        <span role="alert" className="error" data-testid="error">
          {part.errorText}
        </span>
      )}
    </div>
  );
}
