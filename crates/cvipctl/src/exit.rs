//! cvipctl's exit codes: scripts branch on these, so each means one thing.

/// The cluster (or the local validation) rejected the change or the files: nothing changed.
pub const REJECTED: u8 = 1;
/// The local ssinetd cannot be reached: not running, socket missing, not root, no answer.
pub const AGENT_UNREACHABLE: u8 = 3;
/// The cluster cannot decide now: no quorum, no leader, agent shutting down, write unconfirmed.
pub const NO_QUORUM: u8 = 4;
/// The agent answered something cvipctl does not understand (version mismatch?) or failed.
pub const UNEXPECTED: u8 = 5;

pub const HELP: &str = "\
Exit codes:
  0  success
  1  rejected or invalid: the cluster refused the change (every reason is printed), or a
     configuration file is invalid or unreadable; nothing was changed
  2  usage error (unknown option, missing argument)
  3  ssinetd is not reachable on this node: not running, socket missing, permission denied
     (the admin socket is for root only), or no answer within --timeout
  4  the cluster has no quorum or no leader (also `status` when the cluster cannot take writes),
     the agent is shutting down, or a write was not confirmed in time
  5  unexpected answer from ssinetd (is it the same version as cvipctl?) or another failure";
