//! The operators' chat commands' arguments and words, as pure functions: the
//! help text, `/maintenance on|off [message]`, `/forceredeploy <user>
//! <node>`, which commands the audit trail records by name, and a
//! broadcast's progress line. The service's `Admin` component acts on them.

use super::AdminCommand;

/// `/admin`'s reply, and what a command missing its argument shows.
pub const OPERATOR_HELP: &str = "Operator commands:
/stats — users, nodes by state and chain, balances, last 24 h
/user <id or @name> — profile, nodes, balance, recent money
/nodes [filter] — nodes of all users (a state, a chain, part of a name, or \"down\")
/broadcast <text> — a message to every user (asks to confirm; paced)
/maintenance on|off [message] — refuse new deployments (running nodes untouched)
/ban <id or @name>, /unban <id or @name>
/forceredeploy <id or @name> <node> — move a user's node to another grid node
/fault node <id> down|up, /fault workload|app <contract> down|up, /fault chain|link <contract or node> … — embedded grid only (/fault alone shows how)
/unmatched — payments that matched no request (kept aside, never lost)
/credit <payment id> <id or @name> — credit an unmatched payment to a user";

/// Longest maintenance message kept, in characters.
const MAINTENANCE_MESSAGE_CHARS: usize = 500;

/// The usage of `/maintenance`, shown for anything else than on or off.
pub const MAINTENANCE_USAGE: &str = "Usage: /maintenance on|off [message]";

/// `/maintenance on|off [message]`: whether it switches on, and the message
/// (at most 500 characters). `None` when the first word is neither.
pub fn parse_maintenance(arg: &str) -> Option<(bool, String)> {
    let (switch, message) = arg
        .split_once(' ')
        .map_or((arg, ""), |(s, m)| (s, m.trim()));
    let on = match switch {
        "on" => true,
        "off" => false,
        _ => return None,
    };
    Some((
        on,
        message.chars().take(MAINTENANCE_MESSAGE_CHARS).collect(),
    ))
}

/// What a user asking to deploy is told while maintenance is on.
pub fn maintenance_notice(message: &str) -> String {
    if message.is_empty() {
        "New deployments are paused for maintenance. Your running nodes are not affected; please try again later.".to_owned()
    } else {
        format!(
            "New deployments are paused for maintenance: {message} Your running nodes are not affected."
        )
    }
}

/// `/forceredeploy <id or @name> <node>`: the user query and the node name.
pub fn parse_force_redeploy(arg: &str) -> Option<(&str, &str)> {
    arg.split_once(' ')
        .map(|(query, node)| (query, node.trim()))
}

/// Whether the operator's trail records the command by its name
/// (`admin.<name>`). Reports record nothing; actions on one user are
/// recorded in that user's trail by the action itself.
pub fn audited_by_name(command: AdminCommand) -> bool {
    !matches!(
        command,
        AdminCommand::Admin
            | AdminCommand::Stats
            | AdminCommand::User
            | AdminCommand::Nodes
            | AdminCommand::Ban
            | AdminCommand::Unban
            | AdminCommand::ForceRedeploy
            | AdminCommand::Unmatched
            | AdminCommand::Credit
    )
}

/// A broadcast's progress line: `total` queued, `waiting` not sent yet.
pub fn broadcast_progress(total: usize, waiting: usize) -> String {
    let sent = total.saturating_sub(waiting);
    if waiting == 0 {
        format!("Broadcast done: sent to {sent} user(s).")
    } else {
        format!("Broadcast: {sent} of {total} sent…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_reads_on_off_and_a_bounded_message() {
        assert_eq!(parse_maintenance("on"), Some((true, String::new())));
        assert_eq!(
            parse_maintenance("on  back at noon "),
            Some((true, "back at noon".into()))
        );
        assert_eq!(parse_maintenance("off"), Some((false, String::new())));
        assert_eq!(parse_maintenance("maybe"), None);
        let long = format!("on {}", "x".repeat(600));
        assert_eq!(parse_maintenance(&long).unwrap().1.len(), 500);
        assert!(maintenance_notice("").contains("try again later"));
        assert!(maintenance_notice("back at noon.").contains(": back at noon. Your"));
    }

    #[test]
    fn operator_arguments_and_words() {
        assert_eq!(
            parse_force_redeploy("@bob  node-1"),
            Some(("@bob", "node-1"))
        );
        assert_eq!(parse_force_redeploy("@bob"), None);
        assert!(audited_by_name(AdminCommand::Broadcast));
        assert!(audited_by_name(AdminCommand::Maintenance));
        assert!(audited_by_name(AdminCommand::Fault));
        assert!(!audited_by_name(AdminCommand::Ban));
        assert!(!audited_by_name(AdminCommand::Stats));
        assert_eq!(broadcast_progress(3, 1), "Broadcast: 2 of 3 sent…");
        assert_eq!(
            broadcast_progress(3, 0),
            "Broadcast done: sent to 3 user(s)."
        );
    }
}
