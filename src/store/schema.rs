//! diesel table definitions, shared by both backends (see the migrations folders).

diesel::table! {
    organizations (id) {
        id -> BigInt,
        name -> Text,
        credit_code -> Text,
        created_at -> Timestamp,
        supervisory_body_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    supervisory_bodies (id) {
        id -> BigInt,
        name -> Text,
        region_code -> Text,
        parent_id -> Nullable<BigInt>,
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
        disabled_at -> Nullable<Timestamp>,
        supervisory_body_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
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
diesel::joinable!(organizations -> supervisory_bodies (supervisory_body_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

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
    audit_log_head (id) {
        id -> Integer,
        size -> BigInt,
        frontier -> Binary,
    }
}

diesel::table! {
    audit_log_nodes (level, idx) {
        level -> BigInt,
        idx -> BigInt,
        hash -> Binary,
        event_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log_checkpoints (tree_size) {
        tree_size -> BigInt,
        root -> Binary,
        created_at -> Timestamp,
        note -> Text,
    }
}

diesel::table! {
    audit_log_cosignatures (tree_size, witness) {
        tree_size -> BigInt,
        witness -> Text,
        line -> Text,
        created_at -> Timestamp,
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
        priority -> SmallInt,
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
diesel::joinable!(password_resets -> users (user_id));

diesel::table! {
    project_counters (kind, year) {
        kind -> Text,
        year -> Integer,
        last -> Integer,
    }
}

diesel::table! {
    listings (id) {
        id -> BigInt,
        project_no -> Text,
        organization_id -> BigInt,
        created_by -> BigInt,
        kind -> Text,
        title -> Text,
        description -> Text,
        status -> Text,
        appraised_value -> BigInt,
        appraisal_date -> Date,
        listing_price -> BigInt,
        deposit -> BigInt,
        increment -> BigInt,
        disclosure_working_days -> Integer,
        disclosure_start -> Nullable<Timestamp>,
        disclosure_end -> Nullable<Timestamp>,
        disclosure_decided_at -> Nullable<Timestamp>,
        free_bidding_seconds -> Integer,
        countdown_seconds -> Integer,
        allow_self_raise -> Bool,
        consent_document -> Nullable<Text>,
        round -> Integer,
        first_disclosure_at -> Nullable<Timestamp>,
        review_comment -> Nullable<Text>,
        suspended_from -> Nullable<Text>,
        suspended_at -> Nullable<Timestamp>,
        suspension_reason -> Nullable<Text>,
        suspension_alerted -> Bool,
        terminated_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        runner_up_offer -> Bool,
        decision_due_at -> Nullable<Timestamp>,
        bidding_method -> Text,
        preemption -> Text,
    }
}

diesel::table! {
    listing_rounds (id) {
        id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        listing_price -> BigInt,
        disclosure_working_days -> Integer,
        consent_document -> Nullable<Text>,
        disclosure_start -> Nullable<Timestamp>,
        disclosure_end -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        created_at -> Timestamp,
        deposit -> Nullable<BigInt>,
    }
}

diesel::table! {
    registrations (id) {
        id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        user_id -> BigInt,
        organization_id -> BigInt,
        status -> Text,
        deposit_status -> Text,
        deposit_reference -> Nullable<Text>,
        deposit_due_at -> Nullable<Timestamp>,
        bidder_code -> Nullable<Text>,
        statement -> Nullable<Text>,
        review_comment -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        qualified_at -> Nullable<Timestamp>,
        review_due_at -> Nullable<Timestamp>,
        seller_opinion -> Nullable<Text>,
        seller_opinion_comment -> Nullable<Text>,
        seller_opinion_at -> Nullable<Timestamp>,
        seller_opinion_due_at -> Nullable<Timestamp>,
        preemptive_right -> Bool,
    }
}

diesel::joinable!(listings -> organizations (organization_id));
diesel::joinable!(listing_rounds -> listings (listing_id));
diesel::joinable!(registrations -> listings (listing_id));

diesel::table! {
    auctions (id) {
        id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        starts_at -> Timestamp,
        free_ends_at -> Timestamp,
        ends_at -> Timestamp,
        countdown_seconds -> Integer,
        start_price -> BigInt,
        increment -> BigInt,
        allow_self_raise -> Bool,
        current_price -> Nullable<BigInt>,
        leading_registration_id -> Nullable<BigInt>,
        leading_bidder_code -> Nullable<Text>,
        bid_count -> Integer,
        closed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_bid_at -> Nullable<Timestamp>,
        leading_holds_right -> Bool,
    }
}

diesel::table! {
    bids (id) {
        id -> BigInt,
        auction_id -> BigInt,
        listing_id -> BigInt,
        seq -> Integer,
        registration_id -> BigInt,
        bidder_code -> Text,
        amount -> BigInt,
        placed_at -> Timestamp,
        ends_at -> Timestamp,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        kind -> Text,
    }
}

diesel::table! {
    sealed_bids (id) {
        id -> BigInt,
        auction_id -> BigInt,
        listing_id -> BigInt,
        registration_id -> BigInt,
        user_id -> BigInt,
        bidder_code -> Text,
        amount -> BigInt,
        nonce -> Text,
        commitment -> Text,
        placed_at -> Timestamp,
        idempotency_key -> Text,
        client_ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    bid_requests (id) {
        id -> BigInt,
        user_id -> BigInt,
        listing_id -> BigInt,
        idempotency_key -> Text,
        bid_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(bids -> auctions (auction_id));

diesel::table! {
    deals (id) {
        id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        registration_id -> BigInt,
        bidder_code -> Text,
        price -> BigInt,
        method -> Text,
        status -> Text,
        awarded_at -> Timestamp,
        contract_due_at -> Timestamp,
        contract_signed_at -> Nullable<Timestamp>,
        paid_at -> Nullable<Timestamp>,
        payment_reference -> Nullable<Text>,
        announced_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        certificate_no -> Nullable<Text>,
        contract_overdue_flagged -> Bool,
        offer_due_at -> Nullable<Timestamp>,
        payment_due_at -> Nullable<Timestamp>,
        payment_plan -> Nullable<Text>,
        guarantee_reference -> Nullable<Text>,
        paid_total -> BigInt,
        first_payment_due_at -> Nullable<Timestamp>,
        first_payment_min -> Nullable<BigInt>,
    }
}

diesel::table! {
    deal_payments (id) {
        id -> BigInt,
        deal_id -> BigInt,
        listing_id -> BigInt,
        amount -> BigInt,
        reference -> Text,
        paid_at -> Timestamp,
        recorded_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    listing_notices (id) {
        id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        kind -> Text,
        text -> Text,
        material -> Bool,
        disclosure_end_before -> Timestamp,
        disclosure_end_after -> Timestamp,
        published_at -> Timestamp,
        published_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    reminders (id) {
        id -> BigInt,
        subject -> Text,
        kind -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    deal_defaults (id) {
        id -> BigInt,
        deal_id -> BigInt,
        listing_id -> BigInt,
        round -> Integer,
        registration_id -> BigInt,
        bidder_code -> Text,
        price -> BigInt,
        reason -> Text,
        evidence_reference -> Nullable<Text>,
        defaulted_at -> Timestamp,
        recorded_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    sandbox_clock (id) {
        id -> Integer,
        offset_micros -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    alerts (id) {
        id -> BigInt,
        rule -> Text,
        severity -> Text,
        subject -> Text,
        listing_id -> Nullable<BigInt>,
        organization_id -> Nullable<BigInt>,
        detail -> Text,
        evidence -> Text,
        created_at -> Timestamp,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<BigInt>,
        ack_comment -> Nullable<Text>,
    }
}

diesel::table! {
    user_mfa (user_id) {
        user_id -> BigInt,
        secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mfa_recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(user_mfa -> users (user_id));
diesel::joinable!(mfa_recovery_codes -> users (user_id));
diesel::joinable!(mfa_challenges -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    supervisory_bodies,
    users,
    sessions,
    refresh_tokens,
    audit_events,
    audit_heads,
    audit_checkpoints,
    audit_log_head,
    audit_log_nodes,
    audit_log_checkpoints,
    audit_log_cosignatures,
    notifications,
    email_verifications,
    password_resets,
    user_mfa,
    mfa_recovery_codes,
    mfa_challenges,
    project_counters,
    listings,
    listing_rounds,
    registrations,
    auctions,
    bids,
    bid_requests,
    sealed_bids,
    deals,
    deal_defaults,
    deal_payments,
    listing_notices,
    reminders,
    alerts,
    sandbox_clock,
);
