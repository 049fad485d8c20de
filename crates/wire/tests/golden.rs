//! Golden tests: for every request and response of Annex A, the exact XML the encoder must
//! write, and that the same hand-written XML decodes back to the value.
//!
//! The expected strings are written by hand from cwmp-1-2.xsd / cwmp-1-4.xsd and TR-069 3.5:
//! children in `xs:sequence` order, fixed prefixes (`soap-env`, `soap-enc`, `xsd`, `xsi`,
//! `cwmp`), only the method element qualified, SOAP arrays with `soap-enc:arrayType` and the
//! exact count, members named after their type (`string`, `base64`, the struct name),
//! booleans written `1`/`0`, no whitespace between elements.

mod common;

use common::{CWMP_10, CWMP_11, CWMP_12, envelope_xml};
use cwmp_wire::rpc::*;
use cwmp_wire::{
    DateTime, EncodeOptions, Envelope, Fault, FaultCode, Header, Limits, Message, Namespace, SetParameterValuesFault,
    Value, Version, XsdType, decode,
};

const ID_HEADER: &str = r#"<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">g1</cwmp:ID></soap-env:Header>"#;

fn encode(env: &Envelope) -> String {
    String::from_utf8(env.encode(&EncodeOptions::default())).expect("encoder writes UTF-8")
}

/// Checks the exact output for `message` (with a `cwmp:ID` header) and that the expected XML
/// decodes to the same envelope.
fn golden(message: impl Into<Message>, body: &str) {
    let env = Envelope::new(Namespace::Cwmp12, message).with_id("g1");
    let expected = envelope_xml(CWMP_12, ID_HEADER, body);
    assert_eq!(encode(&env), expected);
    let back = decode(expected.as_bytes(), &Limits::default()).expect("golden XML decodes");
    assert_eq!(back, env);
}

fn dt(text: &str) -> DateTime {
    DateTime::parse(text).expect("valid dateTime")
}

fn pvs(name: &str, ty: XsdType, text: &str) -> ParameterValueStruct {
    ParameterValueStruct::new(name, Value::new(ty, text))
}

// ---- A.3.1 / A.3.2: CPE methods ----

#[test]
fn get_rpc_methods() {
    golden(GetRpcMethods {}, "<cwmp:GetRPCMethods></cwmp:GetRPCMethods>");
    golden(
        GetRpcMethodsResponse { method_list: vec!["GetRPCMethods".into(), "Inform".into(), "TransferComplete".into()] },
        concat!(
            "<cwmp:GetRPCMethodsResponse>",
            r#"<MethodList soap-enc:arrayType="xsd:string[3]">"#,
            "<string>GetRPCMethods</string><string>Inform</string><string>TransferComplete</string>",
            "</MethodList></cwmp:GetRPCMethodsResponse>"
        ),
    );
}

#[test]
fn set_parameter_values() {
    golden(
        SetParameterValues {
            parameter_list: vec![
                pvs("Device.ManagementServer.PeriodicInformInterval", XsdType::UnsignedInt, "3600"),
                pvs("Device.DeviceInfo.ProvisioningCode", XsdType::String, "a&b<c>\"d\""),
            ],
            parameter_key: "key-1".into(),
        },
        concat!(
            "<cwmp:SetParameterValues>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[2]">"#,
            "<ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name>",
            r#"<Value xsi:type="xsd:unsignedInt">3600</Value></ParameterValueStruct>"#,
            "<ParameterValueStruct><Name>Device.DeviceInfo.ProvisioningCode</Name>",
            r#"<Value xsi:type="xsd:string">a&amp;b&lt;c&gt;"d"</Value></ParameterValueStruct>"#,
            "</ParameterList><ParameterKey>key-1</ParameterKey></cwmp:SetParameterValues>"
        ),
    );
    golden(
        SetParameterValues { parameter_list: vec![], parameter_key: String::new() },
        concat!(
            "<cwmp:SetParameterValues>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[0]"></ParameterList>"#,
            "<ParameterKey></ParameterKey></cwmp:SetParameterValues>"
        ),
    );
    golden(
        SetParameterValuesResponse { status: 1 },
        "<cwmp:SetParameterValuesResponse><Status>1</Status></cwmp:SetParameterValuesResponse>",
    );
}

#[test]
fn get_parameter_values() {
    golden(
        GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.".into(), "Device.IP.Interface.*.Status".into(), String::new()],
        },
        concat!(
            "<cwmp:GetParameterValues>",
            r#"<ParameterNames soap-enc:arrayType="xsd:string[3]">"#,
            "<string>Device.DeviceInfo.</string><string>Device.IP.Interface.*.Status</string><string></string>",
            "</ParameterNames></cwmp:GetParameterValues>"
        ),
    );
}

/// E-XSITYPE-OUT: every data-model type is written with its `xsd:` type.
#[test]
fn get_parameter_values_response_every_type() {
    golden(
        GetParameterValuesResponse {
            parameter_list: vec![
                pvs("Device.A.S", XsdType::String, "text"),
                pvs("Device.A.I", XsdType::Int, "-5"),
                pvs("Device.A.U", XsdType::UnsignedInt, "5"),
                pvs("Device.A.L", XsdType::Long, "-9223372036854775808"),
                pvs("Device.A.UL", XsdType::UnsignedLong, "18446744073709551615"),
                pvs("Device.A.B", XsdType::Boolean, "1"),
                pvs("Device.A.D", XsdType::DateTime, "2018-03-01T12:00:00Z"),
                pvs("Device.A.B64", XsdType::Base64, "aGVsbG8="),
                pvs("Device.A.H", XsdType::HexBinary, "0aff"),
            ],
        },
        concat!(
            "<cwmp:GetParameterValuesResponse>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[9]">"#,
            r#"<ParameterValueStruct><Name>Device.A.S</Name><Value xsi:type="xsd:string">text</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.I</Name><Value xsi:type="xsd:int">-5</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.U</Name><Value xsi:type="xsd:unsignedInt">5</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.L</Name><Value xsi:type="xsd:long">-9223372036854775808</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.UL</Name><Value xsi:type="xsd:unsignedLong">18446744073709551615</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.B</Name><Value xsi:type="xsd:boolean">1</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.D</Name><Value xsi:type="xsd:dateTime">2018-03-01T12:00:00Z</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.B64</Name><Value xsi:type="xsd:base64Binary">aGVsbG8=</Value></ParameterValueStruct>"#,
            r#"<ParameterValueStruct><Name>Device.A.H</Name><Value xsi:type="xsd:hexBinary">0aff</Value></ParameterValueStruct>"#,
            "</ParameterList></cwmp:GetParameterValuesResponse>"
        ),
    );
}

#[test]
fn get_parameter_names() {
    golden(
        GetParameterNames { parameter_path: "Device.Hosts.".into(), next_level: true },
        concat!(
            "<cwmp:GetParameterNames><ParameterPath>Device.Hosts.</ParameterPath>",
            "<NextLevel>1</NextLevel></cwmp:GetParameterNames>"
        ),
    );
    golden(
        GetParameterNamesResponse {
            parameter_list: vec![
                ParameterInfoStruct { name: "Device.Hosts.HostNumberOfEntries".into(), writable: false },
                ParameterInfoStruct { name: "Device.Hosts.Host.".into(), writable: true },
            ],
        },
        concat!(
            "<cwmp:GetParameterNamesResponse>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterInfoStruct[2]">"#,
            "<ParameterInfoStruct><Name>Device.Hosts.HostNumberOfEntries</Name><Writable>0</Writable></ParameterInfoStruct>",
            "<ParameterInfoStruct><Name>Device.Hosts.Host.</Name><Writable>1</Writable></ParameterInfoStruct>",
            "</ParameterList></cwmp:GetParameterNamesResponse>"
        ),
    );
}

#[test]
fn set_parameter_attributes() {
    golden(
        SetParameterAttributes {
            parameter_list: vec![
                SetParameterAttributesStruct {
                    name: "Device.DeviceInfo.".into(),
                    notification_change: true,
                    notification: 2,
                    access_list_change: true,
                    access_list: vec!["Subscriber".into()],
                },
                SetParameterAttributesStruct {
                    name: "Device.DeviceInfo.SerialNumber".into(),
                    notification_change: false,
                    notification: 0,
                    access_list_change: false,
                    access_list: vec![],
                },
            ],
        },
        concat!(
            "<cwmp:SetParameterAttributes>",
            r#"<ParameterList soap-enc:arrayType="cwmp:SetParameterAttributesStruct[2]">"#,
            "<SetParameterAttributesStruct><Name>Device.DeviceInfo.</Name>",
            "<NotificationChange>1</NotificationChange><Notification>2</Notification>",
            "<AccessListChange>1</AccessListChange>",
            r#"<AccessList soap-enc:arrayType="xsd:string[1]"><string>Subscriber</string></AccessList>"#,
            "</SetParameterAttributesStruct>",
            "<SetParameterAttributesStruct><Name>Device.DeviceInfo.SerialNumber</Name>",
            "<NotificationChange>0</NotificationChange><Notification>0</Notification>",
            "<AccessListChange>0</AccessListChange>",
            r#"<AccessList soap-enc:arrayType="xsd:string[0]"></AccessList>"#,
            "</SetParameterAttributesStruct>",
            "</ParameterList></cwmp:SetParameterAttributes>"
        ),
    );
    golden(
        SetParameterAttributesResponse {},
        "<cwmp:SetParameterAttributesResponse></cwmp:SetParameterAttributesResponse>",
    );
}

#[test]
fn get_parameter_attributes() {
    golden(
        GetParameterAttributes { parameter_names: vec!["Device.DeviceInfo.SerialNumber".into()] },
        concat!(
            "<cwmp:GetParameterAttributes>",
            r#"<ParameterNames soap-enc:arrayType="xsd:string[1]"><string>Device.DeviceInfo.SerialNumber</string>"#,
            "</ParameterNames></cwmp:GetParameterAttributes>"
        ),
    );
    golden(
        GetParameterAttributesResponse {
            parameter_list: vec![ParameterAttributeStruct {
                name: "Device.DeviceInfo.SerialNumber".into(),
                notification: 1,
                access_list: vec!["Subscriber".into(), "X_ACME_Foo".into()],
            }],
        },
        concat!(
            "<cwmp:GetParameterAttributesResponse>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterAttributeStruct[1]">"#,
            "<ParameterAttributeStruct><Name>Device.DeviceInfo.SerialNumber</Name><Notification>1</Notification>",
            r#"<AccessList soap-enc:arrayType="xsd:string[2]"><string>Subscriber</string><string>X_ACME_Foo</string>"#,
            "</AccessList></ParameterAttributeStruct>",
            "</ParameterList></cwmp:GetParameterAttributesResponse>"
        ),
    );
}

#[test]
fn add_and_delete_object() {
    golden(
        AddObject { object_name: "Device.NAT.PortMapping.".into(), parameter_key: String::new() },
        concat!(
            "<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName>",
            "<ParameterKey></ParameterKey></cwmp:AddObject>"
        ),
    );
    golden(
        AddObjectResponse { instance_number: 3, status: 0 },
        "<cwmp:AddObjectResponse><InstanceNumber>3</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>",
    );
    golden(
        DeleteObject { object_name: "Device.NAT.PortMapping.3.".into(), parameter_key: "k".into() },
        concat!(
            "<cwmp:DeleteObject><ObjectName>Device.NAT.PortMapping.3.</ObjectName>",
            "<ParameterKey>k</ParameterKey></cwmp:DeleteObject>"
        ),
    );
    golden(
        DeleteObjectResponse { status: 1 },
        "<cwmp:DeleteObjectResponse><Status>1</Status></cwmp:DeleteObjectResponse>",
    );
}

#[test]
fn download() {
    golden(
        Download {
            command_key: "dl-1".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "https://files.example/fw.bin".into(),
            username: "u".into(),
            password: "p".into(),
            file_size: 123456,
            target_file_name: "fw.bin".into(),
            delay_seconds: 0,
            success_url: String::new(),
            failure_url: String::new(),
        },
        concat!(
            "<cwmp:Download><CommandKey>dl-1</CommandKey><FileType>1 Firmware Upgrade Image</FileType>",
            "<URL>https://files.example/fw.bin</URL><Username>u</Username><Password>p</Password>",
            "<FileSize>123456</FileSize><TargetFileName>fw.bin</TargetFileName><DelaySeconds>0</DelaySeconds>",
            "<SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>"
        ),
    );
    // Status 1: both times are the Unknown Time (A.3.2.8).
    golden(
        DownloadResponse { status: 1, start_time: DateTime::Unknown, complete_time: DateTime::Unknown },
        concat!(
            "<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime>",
            "<CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>"
        ),
    );
}

#[test]
fn reboot_and_factory_reset() {
    golden(Reboot { command_key: "r1".into() }, "<cwmp:Reboot><CommandKey>r1</CommandKey></cwmp:Reboot>");
    golden(RebootResponse {}, "<cwmp:RebootResponse></cwmp:RebootResponse>");
    golden(FactoryReset {}, "<cwmp:FactoryReset></cwmp:FactoryReset>");
    golden(FactoryResetResponse {}, "<cwmp:FactoryResetResponse></cwmp:FactoryResetResponse>");
}

#[test]
fn queued_transfers() {
    golden(GetQueuedTransfers {}, "<cwmp:GetQueuedTransfers></cwmp:GetQueuedTransfers>");
    golden(
        GetQueuedTransfersResponse {
            transfer_list: vec![QueuedTransferStruct { command_key: "dl-1".into(), state: 2 }],
        },
        concat!(
            "<cwmp:GetQueuedTransfersResponse>",
            r#"<TransferList soap-enc:arrayType="cwmp:QueuedTransferStruct[1]">"#,
            "<QueuedTransferStruct><CommandKey>dl-1</CommandKey><State>2</State></QueuedTransferStruct>",
            "</TransferList></cwmp:GetQueuedTransfersResponse>"
        ),
    );
    golden(GetAllQueuedTransfers {}, "<cwmp:GetAllQueuedTransfers></cwmp:GetAllQueuedTransfers>");
    golden(
        GetAllQueuedTransfersResponse {
            transfer_list: vec![AllQueuedTransferStruct {
                command_key: String::new(),
                state: 1,
                is_download: true,
                file_type: "8 Stored Firmware Image".into(),
                file_size: 0,
                target_file_name: String::new(),
            }],
        },
        concat!(
            "<cwmp:GetAllQueuedTransfersResponse>",
            r#"<TransferList soap-enc:arrayType="cwmp:AllQueuedTransferStruct[1]">"#,
            "<AllQueuedTransferStruct><CommandKey></CommandKey><State>1</State><IsDownload>1</IsDownload>",
            "<FileType>8 Stored Firmware Image</FileType><FileSize>0</FileSize><TargetFileName></TargetFileName>",
            "</AllQueuedTransferStruct></TransferList></cwmp:GetAllQueuedTransfersResponse>"
        ),
    );
}

#[test]
fn schedule_inform() {
    golden(
        ScheduleInform { delay_seconds: 60, command_key: "si".into() },
        "<cwmp:ScheduleInform><DelaySeconds>60</DelaySeconds><CommandKey>si</CommandKey></cwmp:ScheduleInform>",
    );
    golden(ScheduleInformResponse {}, "<cwmp:ScheduleInformResponse></cwmp:ScheduleInformResponse>");
}

#[test]
fn vouchers_and_options() {
    golden(
        SetVouchers { voucher_list: vec!["aGVsbG8=".into(), "d29ybGQ=".into()] },
        concat!(
            "<cwmp:SetVouchers>",
            r#"<VoucherList soap-enc:arrayType="soap-enc:base64[2]"><base64>aGVsbG8=</base64><base64>d29ybGQ=</base64>"#,
            "</VoucherList></cwmp:SetVouchers>"
        ),
    );
    golden(SetVouchersResponse {}, "<cwmp:SetVouchersResponse></cwmp:SetVouchersResponse>");
    golden(GetOptions { option_name: String::new() }, "<cwmp:GetOptions><OptionName></OptionName></cwmp:GetOptions>");
    golden(
        GetOptionsResponse {
            option_list: vec![
                OptionStruct {
                    option_name: "Opt1".into(),
                    voucher_sn: 7,
                    state: 3,
                    mode: 1,
                    start_date: dt("2018-01-01T00:00:00Z"),
                    expiration_date: Some(dt("2019-01-01T00:00:00Z")),
                    is_transferable: true,
                },
                OptionStruct {
                    option_name: "Opt2".into(),
                    voucher_sn: 8,
                    state: 0,
                    mode: 2,
                    start_date: DateTime::Unknown,
                    expiration_date: None,
                    is_transferable: false,
                },
            ],
        },
        concat!(
            "<cwmp:GetOptionsResponse>",
            r#"<OptionList soap-enc:arrayType="cwmp:OptionStruct[2]">"#,
            "<OptionStruct><OptionName>Opt1</OptionName><VoucherSN>7</VoucherSN><State>3</State><Mode>1</Mode>",
            "<StartDate>2018-01-01T00:00:00Z</StartDate><ExpirationDate>2019-01-01T00:00:00Z</ExpirationDate>",
            "<IsTransferable>1</IsTransferable></OptionStruct>",
            "<OptionStruct><OptionName>Opt2</OptionName><VoucherSN>8</VoucherSN><State>0</State><Mode>2</Mode>",
            "<StartDate>0001-01-01T00:00:00Z</StartDate><IsTransferable>0</IsTransferable></OptionStruct>",
            "</OptionList></cwmp:GetOptionsResponse>"
        ),
    );
}

#[test]
fn upload() {
    golden(
        Upload {
            command_key: "up".into(),
            file_type: "3 Vendor Configuration File 1".into(),
            url: "https://files.example/put".into(),
            username: String::new(),
            password: String::new(),
            delay_seconds: 5,
        },
        concat!(
            "<cwmp:Upload><CommandKey>up</CommandKey><FileType>3 Vendor Configuration File 1</FileType>",
            "<URL>https://files.example/put</URL><Username></Username><Password></Password>",
            "<DelaySeconds>5</DelaySeconds></cwmp:Upload>"
        ),
    );
    golden(
        UploadResponse {
            status: 0,
            start_time: dt("2018-03-01T12:00:00Z"),
            complete_time: dt("2018-03-01T12:00:01.5Z"),
        },
        concat!(
            "<cwmp:UploadResponse><Status>0</Status><StartTime>2018-03-01T12:00:00Z</StartTime>",
            "<CompleteTime>2018-03-01T12:00:01.5Z</CompleteTime></cwmp:UploadResponse>"
        ),
    );
}

#[test]
fn schedule_download() {
    golden(
        ScheduleDownload {
            command_key: "sd".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://f/x".into(),
            username: String::new(),
            password: String::new(),
            file_size: 0,
            target_file_name: String::new(),
            time_window_list: vec![
                TimeWindowStruct {
                    window_start: 0,
                    window_end: 3600,
                    window_mode: "1 At Any Time".into(),
                    user_message: String::new(),
                    max_retries: -1,
                },
                TimeWindowStruct {
                    window_start: 3600,
                    window_end: 7200,
                    window_mode: "3 When Idle".into(),
                    user_message: "Updating".into(),
                    max_retries: 0,
                },
            ],
        },
        concat!(
            "<cwmp:ScheduleDownload><CommandKey>sd</CommandKey><FileType>1 Firmware Upgrade Image</FileType>",
            "<URL>http://f/x</URL><Username></Username><Password></Password><FileSize>0</FileSize>",
            "<TargetFileName></TargetFileName>",
            r#"<TimeWindowList soap-enc:arrayType="cwmp:TimeWindowStruct[2]">"#,
            "<TimeWindowStruct><WindowStart>0</WindowStart><WindowEnd>3600</WindowEnd>",
            "<WindowMode>1 At Any Time</WindowMode><UserMessage></UserMessage><MaxRetries>-1</MaxRetries></TimeWindowStruct>",
            "<TimeWindowStruct><WindowStart>3600</WindowStart><WindowEnd>7200</WindowEnd>",
            "<WindowMode>3 When Idle</WindowMode><UserMessage>Updating</UserMessage><MaxRetries>0</MaxRetries></TimeWindowStruct>",
            "</TimeWindowList></cwmp:ScheduleDownload>"
        ),
    );
    golden(ScheduleDownloadResponse {}, "<cwmp:ScheduleDownloadResponse></cwmp:ScheduleDownloadResponse>");
}

#[test]
fn cancel_transfer() {
    golden(
        CancelTransfer { command_key: "dl-1".into() },
        "<cwmp:CancelTransfer><CommandKey>dl-1</CommandKey></cwmp:CancelTransfer>",
    );
    golden(CancelTransferResponse {}, "<cwmp:CancelTransferResponse></cwmp:CancelTransferResponse>");
}

/// E-CDUS: repeated `Operations` with `xsi:type`, no arrayType; absent optional fields are
/// not written (trap 6.16: the ACS omits an unknown UUID).
#[test]
fn change_du_state() {
    golden(
        ChangeDuState {
            operations: vec![
                OperationStruct::Install(InstallOpStruct {
                    url: "http://f/du.ipk".into(),
                    uuid: None,
                    username: None,
                    password: None,
                    execution_env_ref: Some("Device.SoftwareModules.ExecEnv.1.".into()),
                }),
                OperationStruct::Update(UpdateOpStruct {
                    uuid: Some("6ba7b810-9dad-11d1-80b4-00c04fd430c8".into()),
                    version: None,
                    url: Some(String::new()),
                    username: None,
                    password: None,
                }),
                OperationStruct::Uninstall(UninstallOpStruct {
                    uuid: "6ba7b810-9dad-11d1-80b4-00c04fd430c8".into(),
                    version: Some("1.0".into()),
                    execution_env_ref: None,
                }),
            ],
            command_key: Some("cdus".into()),
        },
        concat!(
            "<cwmp:ChangeDUState>",
            r#"<Operations xsi:type="cwmp:InstallOpStruct"><URL>http://f/du.ipk</URL>"#,
            "<ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1.</ExecutionEnvRef></Operations>",
            r#"<Operations xsi:type="cwmp:UpdateOpStruct"><UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID>"#,
            "<URL></URL></Operations>",
            r#"<Operations xsi:type="cwmp:UninstallOpStruct"><UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID>"#,
            "<Version>1.0</Version></Operations>",
            "<CommandKey>cdus</CommandKey></cwmp:ChangeDUState>"
        ),
    );
    golden(ChangeDuStateResponse {}, "<cwmp:ChangeDUStateResponse></cwmp:ChangeDUStateResponse>");
}

// ---- A.3.3 / A.4.2: ACS methods ----

fn device_id() -> DeviceIdStruct {
    DeviceIdStruct {
        manufacturer: "Acme".into(),
        oui: "00D09E".into(),
        product_class: "Router".into(),
        serial_number: "SN123".into(),
    }
}

/// E-DT-LOCAL: CurrentTime keeps its offset; Event and ParameterList are SOAP arrays.
#[test]
fn inform() {
    golden(
        Inform {
            device_id: device_id(),
            event: vec![EventStruct::new("1 BOOT", ""), EventStruct::new("M Reboot", "r1")],
            max_envelopes: 1,
            current_time: dt("2018-03-01T13:00:00+01:00"),
            retry_count: 0,
            parameter_list: vec![pvs("Device.DeviceInfo.SoftwareVersion", XsdType::String, "1.0")],
        },
        concat!(
            "<cwmp:Inform><DeviceId><Manufacturer>Acme</Manufacturer><OUI>00D09E</OUI>",
            "<ProductClass>Router</ProductClass><SerialNumber>SN123</SerialNumber></DeviceId>",
            r#"<Event soap-enc:arrayType="cwmp:EventStruct[2]">"#,
            "<EventStruct><EventCode>1 BOOT</EventCode><CommandKey></CommandKey></EventStruct>",
            "<EventStruct><EventCode>M Reboot</EventCode><CommandKey>r1</CommandKey></EventStruct></Event>",
            "<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2018-03-01T13:00:00+01:00</CurrentTime>",
            "<RetryCount>0</RetryCount>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]">"#,
            "<ParameterValueStruct><Name>Device.DeviceInfo.SoftwareVersion</Name>",
            r#"<Value xsi:type="xsd:string">1.0</Value></ParameterValueStruct>"#,
            "</ParameterList></cwmp:Inform>"
        ),
    );
    golden(
        InformResponse { max_envelopes: 1 },
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    );
}

#[test]
fn transfer_complete() {
    golden(
        TransferComplete {
            command_key: "dl-1".into(),
            fault_struct: FaultStruct::success(),
            start_time: dt("2018-03-01T12:00:00Z"),
            complete_time: dt("2018-03-01T12:05:00Z"),
        },
        concat!(
            "<cwmp:TransferComplete><CommandKey>dl-1</CommandKey>",
            // Trap 6.37: FaultString is always written, empty on success.
            "<FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct>",
            "<StartTime>2018-03-01T12:00:00Z</StartTime><CompleteTime>2018-03-01T12:05:00Z</CompleteTime>",
            "</cwmp:TransferComplete>"
        ),
    );
    golden(TransferCompleteResponse {}, "<cwmp:TransferCompleteResponse></cwmp:TransferCompleteResponse>");
}

#[test]
fn autonomous_transfer_complete() {
    golden(
        AutonomousTransferComplete {
            announce_url: String::new(),
            transfer_url: "http://f/fw".into(),
            is_download: true,
            file_type: "1 Firmware Upgrade Image".into(),
            file_size: 10,
            target_file_name: String::new(),
            fault_struct: FaultStruct { fault_code: 9010, fault_string: "Download failed".into() },
            start_time: DateTime::Unknown,
            complete_time: DateTime::Unknown,
        },
        concat!(
            "<cwmp:AutonomousTransferComplete><AnnounceURL></AnnounceURL><TransferURL>http://f/fw</TransferURL>",
            "<IsDownload>1</IsDownload><FileType>1 Firmware Upgrade Image</FileType><FileSize>10</FileSize>",
            "<TargetFileName></TargetFileName>",
            "<FaultStruct><FaultCode>9010</FaultCode><FaultString>Download failed</FaultString></FaultStruct>",
            "<StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime>",
            "</cwmp:AutonomousTransferComplete>"
        ),
    );
    golden(
        AutonomousTransferCompleteResponse {},
        "<cwmp:AutonomousTransferCompleteResponse></cwmp:AutonomousTransferCompleteResponse>",
    );
}

#[test]
fn kicked() {
    golden(
        Kicked {
            command: "cmd".into(),
            referer: "http://lan/".into(),
            arg: "a=1&b=2".into(),
            next: "http://lan/next".into(),
        },
        concat!(
            "<cwmp:Kicked><Command>cmd</Command><Referer>http://lan/</Referer><Arg>a=1&amp;b=2</Arg>",
            "<Next>http://lan/next</Next></cwmp:Kicked>"
        ),
    );
    golden(
        KickedResponse { next_url: "/security/index.html".into() },
        "<cwmp:KickedResponse><NextURL>/security/index.html</NextURL></cwmp:KickedResponse>",
    );
}

#[test]
fn request_download() {
    golden(
        RequestDownload {
            file_type: "2 Web Content".into(),
            file_type_arg: vec![ArgStruct { name: "Version".into(), value: "1.2".into() }],
        },
        concat!(
            "<cwmp:RequestDownload><FileType>2 Web Content</FileType>",
            r#"<FileTypeArg soap-enc:arrayType="cwmp:ArgStruct[1]">"#,
            "<ArgStruct><Name>Version</Name><Value>1.2</Value></ArgStruct></FileTypeArg></cwmp:RequestDownload>"
        ),
    );
    golden(RequestDownloadResponse {}, "<cwmp:RequestDownloadResponse></cwmp:RequestDownloadResponse>");
}

fn op_result_fields() -> &'static str {
    concat!(
        "<UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID>",
        "<DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.1.</DeploymentUnitRef>",
        "<Version>1.0</Version><CurrentState>Installed</CurrentState><Resolved>1</Resolved>",
        "<ExecutionUnitRefList>Device.SoftwareModules.ExecutionUnit.1.,Device.SoftwareModules.ExecutionUnit.2.</ExecutionUnitRefList>",
        "<StartTime>2018-03-01T12:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime>",
        "<Fault><FaultCode>0</FaultCode><FaultString></FaultString></Fault>"
    )
}

fn op_result() -> OpResultStruct {
    OpResultStruct {
        uuid: "6ba7b810-9dad-11d1-80b4-00c04fd430c8".into(),
        deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1.".into(),
        version: "1.0".into(),
        current_state: "Installed".into(),
        resolved: true,
        execution_unit_ref_list: "Device.SoftwareModules.ExecutionUnit.1.,Device.SoftwareModules.ExecutionUnit.2."
            .into(),
        start_time: dt("2018-03-01T12:00:00Z"),
        complete_time: DateTime::Unknown,
        fault: DeploymentUnitFaultStruct { fault_code: 0, fault_string: String::new() },
    }
}

/// E-RESULTS: repeated `Results`, no arrayType; OperationPerformed last in AutonOpResultStruct.
#[test]
fn du_state_change_complete() {
    golden(
        DuStateChangeComplete { results: vec![op_result(), op_result()], command_key: Some("cdus".into()) },
        format!(
            "<cwmp:DUStateChangeComplete><Results>{0}</Results><Results>{0}</Results><CommandKey>cdus</CommandKey></cwmp:DUStateChangeComplete>",
            op_result_fields()
        )
        .as_str(),
    );
    golden(
        DuStateChangeCompleteResponse {},
        "<cwmp:DUStateChangeCompleteResponse></cwmp:DUStateChangeCompleteResponse>",
    );
    let r = op_result();
    golden(
        AutonomousDuStateChangeComplete {
            results: vec![AutonOpResultStruct {
                uuid: r.uuid,
                deployment_unit_ref: r.deployment_unit_ref,
                version: r.version,
                current_state: r.current_state,
                resolved: r.resolved,
                execution_unit_ref_list: r.execution_unit_ref_list,
                start_time: r.start_time,
                complete_time: r.complete_time,
                fault: r.fault,
                operation_performed: "Install".into(),
            }],
        },
        format!(
            "<cwmp:AutonomousDUStateChangeComplete><Results>{}<OperationPerformed>Install</OperationPerformed></Results></cwmp:AutonomousDUStateChangeComplete>",
            op_result_fields()
        )
        .as_str(),
    );
    golden(
        AutonomousDuStateChangeCompleteResponse {},
        "<cwmp:AutonomousDUStateChangeCompleteResponse></cwmp:AutonomousDUStateChangeCompleteResponse>",
    );
}

// ---- 3.5: faults ----

/// E-SPVFAULT-ORDER: FaultCode, FaultString, then the SetParameterValuesFault entries;
/// faultcode Client for 9003; faultstring exactly "CWMP fault".
#[test]
fn set_parameter_values_fault() {
    let mut fault = Fault::new(FaultCode::InvalidArguments);
    fault.set_parameter_values_faults = vec![
        SetParameterValuesFault {
            parameter_name: "Device.Time.NTPServer1".into(),
            fault_code: FaultCode::InvalidParameterValue,
            fault_string: "Invalid IP Address".into(),
        },
        SetParameterValuesFault {
            parameter_name: "Device.Time.LocalTimeZoneName".into(),
            fault_code: FaultCode::InvalidParameterValue,
            fault_string: "String too long".into(),
        },
    ];
    golden(
        Message::Fault(fault),
        concat!(
            "<soap-env:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault>",
            "<FaultCode>9003</FaultCode><FaultString>Invalid arguments</FaultString>",
            "<SetParameterValuesFault><ParameterName>Device.Time.NTPServer1</ParameterName>",
            "<FaultCode>9007</FaultCode><FaultString>Invalid IP Address</FaultString></SetParameterValuesFault>",
            "<SetParameterValuesFault><ParameterName>Device.Time.LocalTimeZoneName</ParameterName>",
            "<FaultCode>9007</FaultCode><FaultString>String too long</FaultString></SetParameterValuesFault>",
            "</cwmp:Fault></detail></soap-env:Fault>"
        ),
    );
}

/// E-FAULT-SHAPE: all 33 CPE and 7 ACS codes, faultcode from Tables 87/88 (the Client codes
/// listed here by hand from the tables), the fault's FaultString from the table.
#[test]
fn every_fault_code_has_the_table_fault_type() {
    const CLIENT: [u32; 8] = [9003, 9005, 9006, 9007, 9008, 9020, 9021, 8003];
    let codes: Vec<u32> = (9000..=9032).chain(8000..=8006).collect();
    assert_eq!(codes.len(), 40);
    for n in codes {
        let code = FaultCode::from_u32(n);
        assert!(!matches!(code, FaultCode::Other(_)), "{n} is in the tables");
        let faultcode = if CLIENT.contains(&n) { "Client" } else { "Server" };
        let body = format!(
            "<soap-env:Fault><faultcode>{faultcode}</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>{n}</FaultCode><FaultString>{}</FaultString></cwmp:Fault></detail></soap-env:Fault>",
            code.description()
        );
        golden(Message::Fault(Fault::new(code)), &body);
    }
    // A vendor code is written as Server.
    golden(
        Message::Fault(Fault::with_string(FaultCode::from_u32(9850), "vendor")),
        concat!(
            "<soap-env:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault>",
            "<FaultCode>9850</FaultCode><FaultString>vendor</FaultString></cwmp:Fault></detail></soap-env:Fault>"
        ),
    );
}

// ---- 3.5 Table 4: header elements and namespaces ----

/// mustUnderstand is "1" on ID, HoldRequests and UseCWMPVersion, "0" on SessionTimeout,
/// SupportedCWMPVersions (and the 1.0 NoMoreRequests); elements in Table 4 order.
#[test]
fn every_header_element() {
    let env = Envelope {
        namespace: Namespace::Cwmp12,
        header: Header {
            id: Some("42".into()),
            hold_requests: Some(false),
            session_timeout: Some(60),
            supported_cwmp_versions: Some(Version::ALL.to_vec()),
            use_cwmp_version: Some(Version::V1_4),
            no_more_requests: Some(true),
        },
        message: Message::InformResponse(InformResponse { max_envelopes: 1 }),
    };
    let expected = envelope_xml(
        CWMP_12,
        concat!(
            "<soap-env:Header>",
            r#"<cwmp:ID soap-env:mustUnderstand="1">42</cwmp:ID>"#,
            r#"<cwmp:HoldRequests soap-env:mustUnderstand="1">0</cwmp:HoldRequests>"#,
            r#"<cwmp:SessionTimeout soap-env:mustUnderstand="0">60</cwmp:SessionTimeout>"#,
            r#"<cwmp:SupportedCWMPVersions soap-env:mustUnderstand="0">1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions>"#,
            r#"<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">1.4</cwmp:UseCWMPVersion>"#,
            r#"<cwmp:NoMoreRequests soap-env:mustUnderstand="0">1</cwmp:NoMoreRequests>"#,
            "</soap-env:Header>"
        ),
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    );
    assert_eq!(encode(&env), expected);
    assert_eq!(common::ok(&expected), env);
}

/// No header at all when there is nothing to say.
#[test]
fn no_header_without_header_elements() {
    let env = Envelope::new(Namespace::Cwmp12, GetRpcMethods {});
    assert_eq!(encode(&env), envelope_xml(CWMP_12, "", "<cwmp:GetRPCMethods></cwmp:GetRPCMethods>"));
}

/// E-NSVER: each namespace is written as given (the session's namespace).
#[test]
fn written_in_the_session_namespace() {
    for (ns, uri) in [(Namespace::Cwmp10, CWMP_10), (Namespace::Cwmp11, CWMP_11), (Namespace::Cwmp12, CWMP_12)] {
        let env = Envelope::new(ns, RebootResponse {});
        assert_eq!(encode(&env), envelope_xml(uri, "", "<cwmp:RebootResponse></cwmp:RebootResponse>"));
    }
}

#[test]
fn xml_declaration_is_optional() {
    let env = Envelope::new(Namespace::Cwmp12, RebootResponse {});
    let with = String::from_utf8(env.encode(&EncodeOptions { xml_declaration: true })).unwrap();
    assert_eq!(
        with,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
            envelope_xml(CWMP_12, "", "<cwmp:RebootResponse></cwmp:RebootResponse>")
        )
    );
}

/// Several envelopes in one body are written back to back.
#[test]
fn several_envelopes() {
    let a = Envelope::new(Namespace::Cwmp12, RebootResponse {}).with_id("1");
    let b = Envelope::new(Namespace::Cwmp12, FactoryResetResponse {}).with_id("2");
    let bytes = cwmp_wire::encode_all(&[a.clone(), b.clone()], &EncodeOptions::default());
    let expected = format!(
        "{}{}",
        envelope_xml(
            CWMP_12,
            r#"<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header>"#,
            "<cwmp:RebootResponse></cwmp:RebootResponse>"
        ),
        envelope_xml(
            CWMP_12,
            r#"<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">2</cwmp:ID></soap-env:Header>"#,
            "<cwmp:FactoryResetResponse></cwmp:FactoryResetResponse>"
        )
    );
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    assert_eq!(cwmp_wire::decode_all(expected.as_bytes(), &Limits::default()).unwrap(), vec![a, b]);
}

/// Text that XML cannot carry literally is escaped so the output always parses back.
#[test]
fn escaping() {
    golden(
        GetParameterValuesResponse { parameter_list: vec![pvs("Device.X", XsdType::String, "a]]>b\r\n\tc ü €")] },
        concat!(
            "<cwmp:GetParameterValuesResponse>",
            r#"<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]">"#,
            "<ParameterValueStruct><Name>Device.X</Name>",
            "<Value xsi:type=\"xsd:string\">a]]&gt;b&#13;\n\tc ü €</Value></ParameterValueStruct>",
            "</ParameterList></cwmp:GetParameterValuesResponse>"
        ),
    );
}
