//! What a run says about its kernel.

use super::Outcome;
use lockdep::ReportKind;
use std::fmt;

/// The verdict on one run, from its violations and its lockdep reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No report and no violation.
    Silent,
    /// Lockdep reported a circular dependency, but every edge of the cycle was recorded while
    /// the same lock instances (lockdep-rs's gates) were held, so the two sides of the
    /// scenario can never run at once: a false positive.
    FalsePositive {
        /// The gates, e.g. `mem_hotplug_mutex`.
        gates: Vec<String>,
    },
    /// Lockdep reported a cycle that no lock serialises: nothing keeps its two sides apart,
    /// and the deadlock is real (for the KSM cycle: two offliners and a notifier registration,
    /// KOSAKI's three actors, which the loom suite runs into).
    Deadlock,
    /// The model saw the design break (a use-after-free, a hung task, an unbalanced unlock,
    /// two tasks in one critical section), or lockdep reported a problem that is not a cycle.
    Broken,
}

impl Outcome {
    /// The run's verdict: [`Verdict::Broken`] if the model recorded a violation, else from the
    /// first cycle lockdep reported (gated or not), else [`Verdict::Silent`].
    ///
    /// Gates are lock *instances*: the verdict is only meaningful when no other kernel of the
    /// same era was alive during the run (a second `mem_hotplug_mutex` makes the class a
    /// non-gate for the rest of the process).
    pub fn verdict(&self) -> Verdict {
        if !self.violations.is_empty() {
            return Verdict::Broken;
        }
        let cycle = self.reports.iter().find(|r| {
            matches!(
                r.kind(),
                ReportKind::CircularDependency | ReportKind::CircularWait
            )
        });
        match cycle {
            None if self.reports.is_empty() => Verdict::Silent,
            None => Verdict::Broken,
            Some(report) if report.gates().is_empty() => Verdict::Deadlock,
            Some(report) => Verdict::FalsePositive {
                gates: report.gates(),
            },
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Silent => f.write_str("silent"),
            Verdict::FalsePositive { gates } => {
                write!(f, "false positive (serialised by {})", gates.join(", "))
            }
            Verdict::Deadlock => f.write_str("real deadlock (nothing serialises the cycle)"),
            Verdict::Broken => f.write_str("broken"),
        }
    }
}
