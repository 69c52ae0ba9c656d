//! How an action or a mode should look: a tone any front end maps to its
//! own colours, and (deprecated) the daisyUI badge class the dashboard once
//! took from the API.

/// The tone of an action or a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Something was made.
    Success,
    /// Something was removed.
    Error,
    /// Something was changed, or done by hand.
    Warning,
    /// A reaction, or done automatically.
    Info,
    /// Anything else.
    Neutral,
}

/// The tone of an action: the first rule that matches wins.
pub fn action_tone(action: &str) -> Tone {
    const RULES: [(&[&str], Tone); 4] = [
        (&["created"], Tone::Success),
        (&["deleted"], Tone::Error),
        (&["updated", "changed"], Tone::Warning),
        (&["liked", "followed"], Tone::Info),
    ];
    RULES
        .iter()
        .find(|(words, _)| words.iter().any(|w| action.contains(w)))
        .map_or(Tone::Neutral, |(_, tone)| *tone)
}

/// The tone of a mode. Five tones cannot tell cron from script, so both
/// are neutral; the deprecated badge classes still tell them apart.
pub fn mode_tone(mode: Option<&str>) -> Tone {
    match mode {
        Some("manual") => Tone::Warning,
        Some("auto") => Tone::Info,
        _ => Tone::Neutral,
    }
}

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
    fn tones_follow_the_badge_rules() {
        assert_eq!(action_tone("post.created"), Tone::Success);
        assert_eq!(action_tone("post.deleted"), Tone::Error);
        assert_eq!(action_tone("password.changed"), Tone::Warning);
        assert_eq!(action_tone("user.followed"), Tone::Info);
        assert_eq!(action_tone("role.assigned"), Tone::Neutral);
        assert_eq!(action_tone("created.then.deleted"), Tone::Success);
        assert_eq!(mode_tone(Some("manual")), Tone::Warning);
        assert_eq!(mode_tone(Some("auto")), Tone::Info);
        assert_eq!(mode_tone(Some("cron")), Tone::Neutral);
        assert_eq!(mode_tone(None), Tone::Neutral);
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
