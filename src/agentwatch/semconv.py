"""Every span, event and metric name that agentwatch writes, in one place.

OpenTelemetry GenAI semantic conventions come first. OpenInference aliases sit beside them so
Phoenix renders spans natively, and ``agentwatch.*`` keys carry what neither convention covers.
No other module spells an attribute key as a string literal.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions ---------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# Values of gen_ai.operation.name.
OPERATION_CHAT: Final = "chat"
OPERATION_EMBEDDINGS: Final = "embeddings"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_TEXT_COMPLETION: Final = "text_completion"

# Values of gen_ai.provider.name and gen_ai.token.type.
PROVIDER_OPENAI: Final = "openai"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# Evaluation results, as the GenAI event `gen_ai.evaluation.result`.
EVENT_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

# agentwatch's attributes on gen_ai.evaluation.result events.
EVALUATION_PASSED: Final = "agentwatch.evaluation.passed"
EVALUATION_TIER: Final = "agentwatch.evaluation.tier"
EVALUATION_THRESHOLD: Final = "agentwatch.evaluation.threshold"
EVALUATION_DURATION_MS: Final = "agentwatch.evaluation.duration_ms"
EVALUATION_ON_FAIL: Final = "agentwatch.evaluation.on_fail"

# Fallback to an approved route: the event on the failed attempt, and the new attempt's markers.
EVENT_FALLBACK: Final = "agentwatch.fallback"
FALLBACK_FROM_ROUTE: Final = "agentwatch.fallback.from_route"
FALLBACK_TO_ROUTE: Final = "agentwatch.fallback.to_route"
FALLBACK_FROM_MODEL: Final = "agentwatch.fallback.from_model"
FALLBACK_TO_MODEL: Final = "agentwatch.fallback.to_model"
FALLBACK_REASON: Final = "agentwatch.fallback.reason"
FALLBACK_ATTEMPT: Final = "agentwatch.fallback.attempt"
POLICY_ACTION: Final = "agentwatch.policy.action"

# Guardrail results, one event per check that ran on the span.
EVENT_GUARDRAIL_RESULT: Final = "agentwatch.guardrail.result"
GUARDRAIL_NAME: Final = "agentwatch.guardrail.name"
GUARDRAIL_STAGE: Final = "agentwatch.guardrail.stage"
GUARDRAIL_ACTION: Final = "agentwatch.guardrail.action"
GUARDRAIL_PASSED: Final = "agentwatch.guardrail.passed"
GUARDRAIL_LABEL: Final = "agentwatch.guardrail.label"

# Mirroring: the shadow call's span carries this marker and a link to the primary call's span.
MIRROR: Final = "agentwatch.mirror"

# Cost of the call in US dollars, from the route's prices per million tokens.
USAGE_COST: Final = "agentwatch.usage.cost"

# Metric instruments.
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_EVALUATION_FAILURES: Final = "agentwatch.evaluation.failures"
METRIC_FALLBACKS: Final = "agentwatch.fallbacks"
METRIC_GUARDRAIL_ACTIONS: Final = "agentwatch.guardrail.actions"
METRIC_MIRRORS_DROPPED: Final = "agentwatch.mirror.dropped"

# --- OpenInference aliases --------------------------------------------------------------
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
LLM_MODEL_NAME: Final = "llm.model_name"
LLM_PROVIDER: Final = "llm.provider"
LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
SESSION_ID: Final = "session.id"

# Values of openinference.span.kind.
SPAN_KIND_LLM: Final = "LLM"
SPAN_KIND_EMBEDDING: Final = "EMBEDDING"
SPAN_KIND_AGENT: Final = "AGENT"
SPAN_KIND_TOOL: Final = "TOOL"

# --- agentwatch's own --------------------------------------------------------------------
TRAJECTORY_STEP: Final = "agent.trajectory.step"
ROUTE_NAME: Final = "agentwatch.route.name"
OPENAI_API: Final = "agentwatch.openai.api"
REQUEST_STREAM: Final = "agentwatch.request.stream"
REQUEST_TOOL_NAMES: Final = "agentwatch.request.tool.names"
RESPONSE_TOOL_CALL_NAMES: Final = "agentwatch.response.tool_call.names"
RESPONSE_TOOL_CALL_IDS: Final = "agentwatch.response.tool_call.ids"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "agentwatch.response.time_to_first_chunk"
STREAM_END: Final = "agentwatch.stream.end"
RUN_STEPS: Final = "agentwatch.run.steps"

# Values of agentwatch.openai.api.
OPENAI_API_CHAT_COMPLETIONS: Final = "chat.completions"
OPENAI_API_RESPONSES: Final = "responses"
OPENAI_API_EMBEDDINGS: Final = "embeddings"

# Values of agentwatch.stream.end: how a traced stream finished.
STREAM_END_EXHAUSTED: Final = "exhausted"
STREAM_END_CLOSED: Final = "closed"
STREAM_END_ABANDONED: Final = "abandoned"
STREAM_END_ERROR: Final = "error"

# Resource attribute that the embedded store and the CLI read.
SERVICE_NAME: Final = "service.name"

# --- LlamaIndex ---------------------------------------------------------------------------
# Retrieval spans, from the GenAI semantic conventions (development status).
OPERATION_RETRIEVAL: Final = "retrieval"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
RETRIEVAL_DOCUMENT_COUNT: Final = "agentwatch.retrieval.document.count"

# OpenInference span kinds of framework steps that are not model calls.
SPAN_KIND_CHAIN: Final = "CHAIN"
SPAN_KIND_RETRIEVER: Final = "RETRIEVER"

# The LlamaIndex class and method a span stands for, such as "RetrieverQueryEngine.query".
LLAMAINDEX_SPAN: Final = "agentwatch.llamaindex.span"
# First word of the names of query-engine and synthesizer spans, which have no GenAI operation.
LLAMAINDEX_QUERY: Final = "query"
LLAMAINDEX_SYNTHESIZE: Final = "synthesize"

# --- LangChain ---------------------------------------------------------------------------
# Retriever and chain spans use the retrieval and span-kind keys of the LlamaIndex block above.
# The LangGraph node a span ran in, from the run's `langgraph_node` metadata.
LANGGRAPH_NODE: Final = "agentwatch.langgraph.node"
