"""KSC's attribute and field names as the portal reads and writes them, in one place (docs/ksc-wire.md).

Incidents (HostGroup.AddIncident/UpdateIncident/FindIncidents, section 6), hosts
(HostGroup.FindHosts/GetHostInfo, section 7), tasks and their history (section 9), and the
array keys of KSC's chunked answers. Every other module of ksc_client names them through
these constants, so a name KSC spells differently is corrected here once.
"""

from __future__ import annotations

# --- incidents -----------------------------------------------------------------------------------
INCIDENT_ID = "KLINCDT_ID"
INCIDENT_SEVERITY = "KLINCDT_SEVERITY"
INCIDENT_ADDED = "KLINCDT_ADDED"
INCIDENT_BODY = "KLINCDT_BODY"  # the response envelope, a JSON string
INCIDENT_IS_HANDLED = "KLINCDT_IS_HANDLED"
INCIDENT_HOST = "KLHST_WKS_HOSTNAME"  # the incident's host: KSC's internal host id

# --- hosts ---------------------------------------------------------------------------------------
HOST_ID = "KLHST_WKS_HOSTNAME"  # KSC's internal, server-generated host id
DISPLAY_NAME = "KLHST_WKS_DN"
FQDN = "KLHST_WKS_FQDN"
DNS_NAME = "KLHST_WKS_DNSNAME"
DNS_DOMAIN = "KLHST_WKS_DNSDOMAIN"
NETBIOS_NAME = "KLHST_WKS_WINHOSTNAME"
IP_LONG = "KLHST_WKS_IP_LONG"  # IPv4 as an unsigned number, first octet most significant
GROUP_ID = "KLHST_WKS_GROUPID"
GROUP_NAME = "name"
LAST_SEEN = "KLHST_WKS_LAST_NAGENT_CONNECTED"
OS_NAME = "KLHST_WKS_OS_NAME"
LAST_VISIBLE = "KLHST_WKS_LAST_VISIBLE"

# --- tasks ---------------------------------------------------------------------------------------
TASK_ID = "TASK_UNIQUE_ID"
TASK_INFO = "TASK_INFO_PARAMS"
TASK_DISPLAY_NAME = "DisplayName"
TASK_CREATION_DATE = "PRTS_TASK_CREATION_DATE"
# Tasks.GetTaskHistory: the fields of each KLPRCI_TaskState event the portal reads.
HISTORY_FIELDS = ("event_type", "task_new_state", "event_id", "rise_time", "state_descr", "hostname")

# --- array keys of chunked answers ---------------------------------------------------------------
CHUNK_ITEMS = "KLCSP_ITERATOR_ARRAY"  # ChunkAccessor.GetItemsChunk's pChunk
EVENT_RANGE = "KLEVP_EVENT_RANGE_ARRAY"  # EventProcessing.GetRecordRange's pParamsEvents

# --- the hierarchy: secondaries, virtual servers, searches across them (docs/ksc-wire.md, section 11) ---
SERVER_ID = "KLSRVH_SRV_ID"  # a secondary's id on its parent (ServerHierarchy.GetChildServers)
SERVER_NAME = "KLSRVH_SRV_DN"
SERVER_INSTANCE_ID = "KLSRVH_SRV_INST_ID"
SLAVE_DEPTH = "KLSRVH_SLAVE_REC_DEPTH"  # FindHostsAsync's pParams: how many levels below to search
CURRENT_VS_ONLY = "KLGRP_FIND_FROM_CUR_VS_ONLY"  # host searches: this server only, not its virtual servers
FAILED_SECONDARIES = "KLGRP_FAILED_SLAVES_PARAMS"  # FindHostsAsyncGetAccessor's pFailedSlavesInfo array
GATEWAY_KEY = "wstrAuthKey"  # GatewayConnection.PrepareGatewayConnection's out par
