//! The settings API: read (without secrets) and partial update, applied at once.

use kb_core::settings::Settings;
use serde_json::Value;

use crate::app::App;
use crate::collections::merge_json;
use crate::error::{AppError, AppResult};

impl App {
    pub fn settings_json(&self) -> Value {
        self.settings().to_api_json()
    }

    /// Merge `patch` over the current settings, validate, store, and swap in the result.
    pub async fn update_settings(&self, patch: Value) -> AppResult<Value> {
        let load_error =
            || AppError::bad_request("An error occurred while loading the submitted data.");
        if !patch.is_object() {
            return Err(load_error());
        }
        let mut merged = serde_json::to_value(&*self.settings())
            .map_err(|e| AppError::Internal(e.to_string()))?;
        merge_json(&mut merged, patch);
        let settings: Settings = serde_json::from_value(merged).map_err(|_| load_error())?;
        settings.validate().map_err(|errors| {
            AppError::invalid("An error occurred while saving the new settings.", errors)
        })?;
        let to_save = settings.clone();
        self.store
            .write(move |w| w.save_settings(&to_save).map_err(AppError::from))
            .await?;
        self.replace_settings(settings);
        // New limits start with fresh windows.
        self.store
            .counters()
            .forget(crate::ratelimit::COUNTER_PREFIX)
            .await?;
        Ok(self.settings_json())
    }
}
