//! Badge colours that dashboards use for actions and modes.
//!
//! The class names are daisyUI's badge classes, so a dashboard can use them as they are.

/// The badge class for an action: the first rule that matches wins.
pub fn action_badge_color(action: &str) -> &'static str {
    const RULES: [(&[&str], &str); 4] = [
        (&["created"], "badge-success"),
        (&["deleted"], "badge-error"),
        (&["updated", "changed"], "badge-warning"),
        (&["liked", "followed"], "badge-info"),
    ];
    RULES
        .iter()
        .find(|(words, _)| words.iter().any(|w| action.contains(w)))
        .map_or("badge-ghost", |(_, class)| class)
}

/// The badge class for a mode; an unknown or missing mode gets the neutral one.
pub fn mode_badge_color(mode: Option<&str>) -> &'static str {
    match mode {
        Some("manual") => "badge-warning",
        Some("auto") => "badge-info",
        Some("cron") => "badge-secondary",
        Some("script") => "badge-accent",
        _ => "badge-ghost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_rules_apply_in_order() {
        assert_eq!(action_badge_color("post.created"), "badge-success");
        assert_eq!(action_badge_color("post.deleted"), "badge-error");
        assert_eq!(action_badge_color("profile.updated"), "badge-warning");
        assert_eq!(action_badge_color("password.changed"), "badge-warning");
        assert_eq!(action_badge_color("comment.liked"), "badge-info");
        assert_eq!(action_badge_color("user.followed"), "badge-info");
        assert_eq!(action_badge_color("role.assigned"), "badge-ghost");
        // "created" is checked before "deleted".
        assert_eq!(action_badge_color("created.then.deleted"), "badge-success");
        assert_eq!(action_badge_color("liked.then.updated"), "badge-warning");
    }

    #[test]
    fn mode_rules() {
        assert_eq!(mode_badge_color(Some("manual")), "badge-warning");
        assert_eq!(mode_badge_color(Some("auto")), "badge-info");
        assert_eq!(mode_badge_color(Some("cron")), "badge-secondary");
        assert_eq!(mode_badge_color(Some("script")), "badge-accent");
        assert_eq!(mode_badge_color(Some("Manual")), "badge-ghost");
        assert_eq!(mode_badge_color(None), "badge-ghost");
    }
}
