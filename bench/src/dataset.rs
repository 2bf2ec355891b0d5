//! The chat-room data set every server gets: users, rooms, memberships and messages, all
//! with fixed ids, so a request built for one server means the same thing on another.

use serde::Serialize;

/// Users that belong to rooms; they author the seeded messages and send the load.
pub const MEMBER_USERS: usize = 16;
/// One more user who belongs to no room, to prove the create rule refuses non-members.
pub const OUTSIDER: usize = MEMBER_USERS;
pub const ROOMS: usize = 10;
/// Distinct values of the unindexed `tag` field: a tag filter matches `records / TAGS` rows.
pub const TAGS: usize = 1000;
pub const PASSWORD: &str = "bench-password-123";

/// Ids are 15 characters of `[a-z0-9]`, the default id pattern of both servers.
pub fn user_id(user: usize) -> String {
    format!("u{user:014}")
}

pub fn user_email(user: usize) -> String {
    format!("user{user}@bench.test")
}

pub fn room_id(room: usize) -> String {
    format!("r{room:014}")
}

pub fn message_id(index: usize) -> String {
    format!("m{index:014}")
}

/// Each member user belongs to two neighbouring rooms, so membership is a real question.
pub fn user_rooms(user: usize) -> [usize; 2] {
    [user % ROOMS, (user + 1) % ROOMS]
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub room: String,
    pub author: String,
    pub text: String,
    pub seq: i64,
    pub tag: String,
}

/// The author of seeded message `index`: users take turns, so user `u` wrote messages
/// `u`, `u + MEMBER_USERS`, `u + 2 * MEMBER_USERS`, …
pub fn message_author(index: usize) -> usize {
    index % MEMBER_USERS
}

/// Seeded message `index`, posted by its author in one of the author's rooms.
pub fn seed_message(index: usize) -> Message {
    let author = message_author(index);
    let room = user_rooms(author)[(index / MEMBER_USERS) % 2];
    Message {
        id: message_id(index),
        room: room_id(room),
        author: user_id(author),
        text: format!("seed message {index}"),
        seq: i64::try_from(index).expect("seeded messages fit in i64"),
        tag: tag(index % TAGS),
    }
}

pub fn tag(value: usize) -> String {
    format!("tag-{value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_the_default_id_pattern() {
        for id in [user_id(OUTSIDER), room_id(ROOMS - 1), message_id(99_999)] {
            assert_eq!(id.len(), 15, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            );
        }
    }

    #[test]
    fn seeded_messages_are_posted_in_their_authors_rooms() {
        for index in 0..1000 {
            let message = seed_message(index);
            let author = message_author(index);
            assert_eq!(message.author, user_id(author));
            assert!(user_rooms(author).map(room_id).contains(&message.room));
        }
    }
}
