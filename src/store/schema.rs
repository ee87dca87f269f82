//! diesel table definitions, shared by both backends (see the migrations folders).

diesel::table! {
    organizations (id) {
        id -> BigInt,
        name -> Text,
        credit_code -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        name -> Text,
        role -> Text,
        organization_id -> Nullable<BigInt>,
        phone -> Nullable<Text>,
        locale -> Text,
        email_verified_at -> Nullable<Timestamp>,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        session_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(users -> organizations (organization_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

diesel::allow_tables_to_appear_in_same_query!(organizations, users, sessions, refresh_tokens);

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        stream -> Text,
        stream_seq -> BigInt,
        occurred_at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor_role -> Nullable<Text>,
        action -> Text,
        payload -> Text,
        client_ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_heads (stream) {
        stream -> Text,
        seq -> BigInt,
        hash -> Text,
        checkpoint_seq -> BigInt,
    }
}

diesel::table! {
    audit_checkpoints (id) {
        id -> BigInt,
        created_at -> Timestamp,
        streams -> BigInt,
        events -> BigInt,
        root -> Text,
        heads -> Text,
        key_id -> Text,
        signature -> Text,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        to_address -> Text,
        kind -> Text,
        locale -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_verifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(email_verifications -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(notifications, users);
diesel::allow_tables_to_appear_in_same_query!(email_verifications, users);
