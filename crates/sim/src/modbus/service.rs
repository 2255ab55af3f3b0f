//! Answers Modbus requests from the register image, and passes writes to
//! the model.
//!
//! Exceptions, as the gateway and any other client will see them:
//!
//! | request | exception |
//! | --- | --- |
//! | a unit id no pad has | `GatewayTargetDevice` (0x0B) |
//! | a function other than 1, 2, 3, 4, 5, 6, 15, 16 | `IllegalFunction` (0x01) |
//! | a write to a table with no writable point in this unit, or to a point that is read-only | `IllegalFunction` (0x01) |
//! | a bit or register no tag is bound to | `IllegalDataAddress` (0x02) |
//! | a count of 0 or above the protocol's limit | `IllegalDataValue` (0x03) |
//! | a written value that does not decode or is out of the tag's range | `IllegalDataValue` (0x03) |

use std::future::{Ready, ready};
use std::sync::Arc;

use flowline_catalog::modbus::Table;
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use crate::events;
use crate::simulator::Simulator;

/// The most coils one write-multiple-coils request may carry (Modbus
/// application protocol 1.1b3, section 6.11).
const MAX_WRITE_COILS: usize = 1_968;
/// The most registers one write-multiple-registers request may carry
/// (section 6.12).
const MAX_WRITE_REGISTERS: usize = 123;

/// The simulator as a Modbus server: one per listener, shared by every
/// connection.
#[derive(Debug, Clone)]
pub struct ModbusService {
    sim: Arc<Simulator>,
}

impl ModbusService {
    /// A service answering from `sim`.
    pub fn new(sim: Arc<Simulator>) -> ModbusService {
        ModbusService { sim }
    }

    /// Answers one request.
    fn answer(&self, request: SlaveRequest<'static>) -> Result<Response, ExceptionCode> {
        let unit = self
            .sim
            .map()
            .unit(request.slave)
            .ok_or(ExceptionCode::GatewayTargetDevice)?;
        match request.request {
            Request::ReadCoils(address, count) => self
                .read_bits(unit, Table::Coil, address, count)
                .map(Response::ReadCoils),
            Request::ReadDiscreteInputs(address, count) => self
                .read_bits(unit, Table::DiscreteInput, address, count)
                .map(Response::ReadDiscreteInputs),
            Request::ReadHoldingRegisters(address, count) => self
                .read_words(unit, Table::HoldingRegister, address, count)
                .map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(address, count) => self
                .read_words(unit, Table::InputRegister, address, count)
                .map(Response::ReadInputRegisters),
            Request::WriteSingleCoil(address, on) => self
                .write(unit, Table::Coil, address, &[u16::from(on)])
                .map(|()| Response::WriteSingleCoil(address, on)),
            Request::WriteSingleRegister(address, word) => self
                .write(unit, Table::HoldingRegister, address, &[word])
                .map(|()| Response::WriteSingleRegister(address, word)),
            Request::WriteMultipleCoils(address, coils) => {
                check_count(coils.len(), MAX_WRITE_COILS)?;
                let words: Vec<u16> = coils.iter().map(|on| u16::from(*on)).collect();
                self.write(unit, Table::Coil, address, &words)
                    .map(|()| Response::WriteMultipleCoils(address, coils.len() as u16))
            }
            Request::WriteMultipleRegisters(address, words) => {
                check_count(words.len(), MAX_WRITE_REGISTERS)?;
                self.write(unit, Table::HoldingRegister, address, &words)
                    .map(|()| Response::WriteMultipleRegisters(address, words.len() as u16))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    /// The words of a read, checked against the map.
    fn read_words(
        &self,
        unit: usize,
        table: Table,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, ExceptionCode> {
        let count = usize::from(count);
        check_count(count, usize::from(table.max_read()))?;
        self.sim
            .map()
            .owners(unit, table, address, count)
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        Ok(self.sim.image().words(unit, table, address, count).to_vec())
    }

    /// The bits of a read, checked against the map.
    fn read_bits(
        &self,
        unit: usize,
        table: Table,
        address: u16,
        count: u16,
    ) -> Result<Vec<bool>, ExceptionCode> {
        let words = self.read_words(unit, table, address, count)?;
        Ok(words.into_iter().map(|word| word != 0).collect())
    }

    /// A write of `words` (bits as 0 or 1) to `table` from `address`.
    fn write(
        &self,
        unit: usize,
        table: Table,
        address: u16,
        words: &[u16],
    ) -> Result<(), ExceptionCode> {
        let map = self.sim.map();
        if !map.is_writable(unit, table) {
            return Err(ExceptionCode::IllegalFunction);
        }
        let bindings = map
            .owners(unit, table, address, words.len())
            .ok_or(ExceptionCode::IllegalDataAddress)?;
        if bindings.iter().any(|index| !map.binding(*index).writable) {
            return Err(ExceptionCode::IllegalFunction);
        }
        self.sim
            .write_registers(unit, table, address, words, &bindings)
    }
}

impl Service for ModbusService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Response, ExceptionCode>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let function = function_name(&request.request);
        let unit = request.slave;
        let answer = self.answer(request);
        events::modbus_request(
            function,
            unit,
            answer.as_ref().map(|_| ()).map_err(|code| *code),
        );
        ready(answer)
    }
}

/// Refuses counts of zero or above `most`.
fn check_count(count: usize, most: usize) -> Result<(), ExceptionCode> {
    if count == 0 || count > most {
        return Err(ExceptionCode::IllegalDataValue);
    }
    Ok(())
}

/// A short name for a request's function, for labels.
fn function_name(request: &Request<'_>) -> &'static str {
    match request {
        Request::ReadCoils(..) => "read-coils",
        Request::ReadDiscreteInputs(..) => "read-discrete-inputs",
        Request::ReadHoldingRegisters(..) => "read-holding-registers",
        Request::ReadInputRegisters(..) => "read-input-registers",
        Request::WriteSingleCoil(..) => "write-single-coil",
        Request::WriteSingleRegister(..) => "write-single-register",
        Request::WriteMultipleCoils(..) => "write-multiple-coils",
        Request::WriteMultipleRegisters(..) => "write-multiple-registers",
        _ => "other",
    }
}
