// Regenerates the golden PDUs of this directory with node-smpp, an
// independent SMPP implementation, so the Go codec is checked against
// bytes it did not produce itself:
//
//	cd "$(mktemp -d)" && npm install smpp@0.6.0-rc.4 && node /path/to/gen.js /path/to/golden
//
// Each case here has a twin, with the same name, in golden_test.go.
const path = require('path');
const fs = require('fs');
const { PDU } = require(path.join(process.cwd(), 'node_modules/smpp/lib/pdu.js'));

const out = process.argv[2] || __dirname;
const ucs2 = (s) => Buffer.from(s, 'utf16le').swap16();
const receipt = 'id:0A1B2C3D sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Hello world';

const cases = {
	bind_transmitter: ['bind_transmitter', { sequence_number: 1, system_id: 'trunkline', password: 'secret', system_type: 'SMPP', interface_version: 0x34, addr_ton: 1, addr_npi: 1, address_range: '' }],
	bind_receiver: ['bind_receiver', { sequence_number: 2, system_id: 'rx', password: 'pw', system_type: '', interface_version: 0x34, addr_ton: 0, addr_npi: 0, address_range: '^1555' }],
	bind_transceiver: ['bind_transceiver', { sequence_number: 3, system_id: 'trx', password: 'pass1234', system_type: 'VMA', interface_version: 0x34, addr_ton: 5, addr_npi: 0, address_range: '' }],
	bind_transmitter_resp: ['bind_transmitter_resp', { sequence_number: 1, system_id: 'SMSC', sc_interface_version: 0x34 }],
	bind_receiver_resp: ['bind_receiver_resp', { sequence_number: 2, system_id: 'SMSC' }],
	bind_transceiver_resp_fail: ['bind_transceiver_resp', { sequence_number: 3, command_status: 0x0E }],
	outbind: ['outbind', { sequence_number: 4, system_id: 'smsc', password: 'pw' }],
	unbind: ['unbind', { sequence_number: 5 }],
	unbind_resp: ['unbind_resp', { sequence_number: 5 }],
	generic_nack: ['generic_nack', { sequence_number: 6, command_status: 0x03 }],
	enquire_link: ['enquire_link', { sequence_number: 7 }],
	enquire_link_resp: ['enquire_link_resp', { sequence_number: 7 }],
	submit_sm: ['submit_sm', { sequence_number: 8, service_type: '', source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Trunkline', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100', esm_class: 0, protocol_id: 0, priority_flag: 0, schedule_delivery_time: '', validity_period: '000000010000000R', registered_delivery: 1, replace_if_present_flag: 0, data_coding: 0, sm_default_msg_id: 0, short_message: Buffer.from('Hello world') }],
	submit_sm_udh_ucs2: ['submit_sm', { sequence_number: 9, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550199', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100', esm_class: 0x40, registered_delivery: 1, data_coding: 8, short_message: Buffer.concat([Buffer.from([5, 0, 3, 0x2A, 2, 1]), ucs2('Hé😀')]), user_message_reference: 0x1234 }],
	submit_sm_payload_sar: ['submit_sm', { sequence_number: 10, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550199', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100', data_coding: 0, short_message: Buffer.alloc(0), sar_msg_ref_num: 0x0102, sar_total_segments: 3, sar_segment_seqnum: 1, message_payload: Buffer.from('A message that travels in message_payload') }],
	submit_sm_resp: ['submit_sm_resp', { sequence_number: 8, message_id: '0A1B2C3D' }],
	submit_sm_resp_throttled: ['submit_sm_resp', { sequence_number: 9, command_status: 0x58 }],
	deliver_sm_receipt: ['deliver_sm', { sequence_number: 11, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550100', dest_addr_ton: 5, dest_addr_npi: 0, destination_addr: 'Trunkline', esm_class: 0x04, data_coding: 0, short_message: Buffer.from(receipt), receipted_message_id: '0A1B2C3D', message_state: 2, network_error_code: Buffer.from([3, 0, 0]) }],
	deliver_sm_mo: ['deliver_sm', { sequence_number: 12, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550100', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550199', data_coding: 0, short_message: Buffer.from('STOP') }],
	deliver_sm_resp: ['deliver_sm_resp', { sequence_number: 11, message_id: '' }],
	data_sm: ['data_sm', { sequence_number: 13, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550100', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550101', esm_class: 0, registered_delivery: 1, data_coding: 8, message_payload: ucs2('Привет') }],
	data_sm_resp: ['data_sm_resp', { sequence_number: 13, message_id: 'abc123' }],
	query_sm: ['query_sm', { sequence_number: 14, message_id: '0A1B2C3D', source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Trunkline' }],
	query_sm_resp: ['query_sm_resp', { sequence_number: 14, message_id: '0A1B2C3D', final_date: '240102150405000+', message_state: 2, error_code: 0 }],
	cancel_sm: ['cancel_sm', { sequence_number: 15, service_type: '', message_id: '0A1B2C3D', source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Trunkline', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100' }],
	cancel_sm_resp: ['cancel_sm_resp', { sequence_number: 15 }],
	replace_sm: ['replace_sm', { sequence_number: 16, message_id: '0A1B2C3D', source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Trunkline', schedule_delivery_time: '', validity_period: '', registered_delivery: 1, sm_default_msg_id: 0, short_message: Buffer.from('New text') }],
	replace_sm_resp: ['replace_sm_resp', { sequence_number: 16 }],
	submit_multi: ['submit_multi', { sequence_number: 17, source_addr_ton: 5, source_addr_npi: 0, source_addr: 'Trunkline', dest_address: [{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100' }, { dl_name: 'friends' }], data_coding: 0, short_message: Buffer.from('Hi all') }],
	submit_multi_resp: ['submit_multi_resp', { sequence_number: 17, message_id: 'm1', unsuccess_sme: [{ dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '14155550100', error_status_code: 0x0B }] }],
	alert_notification: ['alert_notification', { sequence_number: 18, source_addr_ton: 1, source_addr_npi: 1, source_addr: '14155550100', esme_addr_ton: 5, esme_addr_npi: 0, esme_addr: 'Trunkline', ms_availability_status: 0 }],
};

for (const [name, [command, options]] of Object.entries(cases)) {
	const hex = new PDU(command, options).toBuffer().toString('hex').toUpperCase();
	const lines = hex.match(/.{1,32}/g).join('\n');
	fs.writeFileSync(path.join(out, name + '.hex'), lines + '\n');
}
