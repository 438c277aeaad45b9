//! The Execute step's entry: hands approved order intents to the execution side
//! (the FIX executors, issue 6) and passes decisions and vetoes on to the audit trail.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{FrameBuf, FrameRef, Verdict};

/// Forwards [`qp_wire::OrderIntent`]s, the decisions risk judged, veto verdicts (and a replay's lockstep markers,
/// which the loop takes off its output); refuses everything else,
/// so nothing but what risk produced reaches the execution side.
#[derive(Debug, Default)]
pub struct ExecutionHandoff;

impl Agent for ExecutionHandoff {
    fn name(&self) -> &'static str {
        "execution-handoff"
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        match frame {
            FrameRef::OrderIntent(f) => out.push(FrameBuf::derive(f.header, f.payload)),
            // Risk's copy of each decision it judged (`super::decision_record`).
            FrameRef::Decision(f) => out.push(FrameBuf::derive(f.header, f.payload)),
            FrameRef::RiskVerdict(f) if f.payload.verdict() == Some(Verdict::Veto) => {
                out.push(FrameBuf::derive(f.header, f.payload))
            }
            // A replay's lockstep marker (`super::lockstep`): back to the feeder.
            FrameRef::ExecReport(f) if super::lockstep::is_marker(f.payload) => {
                out.push(FrameBuf::derive(f.header, f.payload))
            }
            other => Err(AgentError::UnexpectedFrame { agent: "execution-handoff", frame_type: other.frame_type() }),
        }
    }
}
