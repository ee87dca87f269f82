//! Keeps this instance's sandbox clock in step with the offset stored in the database (another
//! instance may have moved it). A no-op unless `[sandbox] adjustable_clock` is on.

use actix_web::web;

use crate::error::AppError;
use crate::state::AppState;

/// Adopts the stored offset if it is ahead of the one in force.
pub async fn refresh_clock(state: &web::Data<AppState>) -> Result<(), AppError> {
    let Some(clock) = state.sandbox.clone() else {
        return Ok(());
    };
    let offset = state
        .db
        .run(crate::exchange::sandbox::stored_offset)
        .await?;
    clock.observe(offset);
    Ok(())
}
