//! What quality a sample gets when its read fails, and why.
//!
//! Modbus devices report no quality of their own. A value read without
//! error is good; when the read fails, every point it covered gets
//! [`Value::MISSING`](flowline_core::Value::MISSING) with the OPC UA quality
//! that names the reason, so a gap in the data is visible and explained,
//! never a silent zero.

use flowline_core::Quality;
use tokio_modbus::ExceptionCode;

/// Why a read produced no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadFailure {
    /// The device answered with a Modbus exception.
    Exception(ExceptionCode),
    /// No answer within the request timeout.
    Timeout,
    /// The connection failed or broke, or the answer was malformed.
    Communication(String),
    /// The gateway has not been able to connect since it started.
    NeverConnected(String),
    /// The registers held no usable value (NaN, infinity).
    BadValue(String),
}

impl ReadFailure {
    /// The quality of samples this failure leaves without a value.
    pub fn quality(&self) -> Quality {
        match self {
            ReadFailure::Exception(code) => match code {
                ExceptionCode::IllegalFunction
                | ExceptionCode::IllegalDataAddress
                | ExceptionCode::IllegalDataValue => Quality::BAD_CONFIGURATION_ERROR,
                ExceptionCode::ServerDeviceFailure => Quality::BAD_DEVICE_FAILURE,
                ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetDevice => {
                    Quality::BAD_NOT_CONNECTED
                }
                _ => Quality::BAD_COMMUNICATION_ERROR,
            },
            ReadFailure::Timeout => Quality::BAD_TIMEOUT,
            ReadFailure::Communication(_) => Quality::BAD_COMMUNICATION_ERROR,
            ReadFailure::NeverConnected(_) => Quality::BAD_NO_COMMUNICATION,
            ReadFailure::BadValue(_) => Quality::BAD_SENSOR_FAILURE,
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ReadFailure::Exception(_) => "exception",
            ReadFailure::Timeout => "timeout",
            ReadFailure::Communication(_) => "communication",
            ReadFailure::NeverConnected(_) => "never-connected",
            ReadFailure::BadValue(_) => "bad-value",
        }
    }
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadFailure::Exception(code) => {
                write!(f, "exception {code:?} (0x{:02X})", u8::from(*code))
            }
            ReadFailure::Timeout => f.write_str("no answer within the request timeout"),
            ReadFailure::Communication(reason) => write!(f, "communication failed: {reason}"),
            ReadFailure::NeverConnected(reason) => write!(f, "never connected: {reason}"),
            ReadFailure::BadValue(reason) => write!(f, "no usable value: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_a_bad_quality_that_names_it() {
        let cases = [
            (
                ReadFailure::Exception(ExceptionCode::IllegalDataAddress),
                "BadConfigurationError",
            ),
            (
                ReadFailure::Exception(ExceptionCode::GatewayTargetDevice),
                "BadNotConnected",
            ),
            (
                ReadFailure::Exception(ExceptionCode::ServerDeviceFailure),
                "BadDeviceFailure",
            ),
            (ReadFailure::Timeout, "BadTimeout"),
            (
                ReadFailure::Communication("reset".into()),
                "BadCommunicationError",
            ),
            (
                ReadFailure::NeverConnected("refused".into()),
                "BadNoCommunication",
            ),
            (ReadFailure::BadValue("NaN".into()), "BadSensorFailure"),
        ];
        for (failure, name) in cases {
            assert!(failure.quality().is_bad());
            assert_eq!(failure.quality().to_string(), name, "{failure}");
        }
    }
}
