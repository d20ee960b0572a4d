"""Parameter values the deploy tests evaluate template.yml with: every choice that changes a resource.

Fake but well-formed ids and secrets only (no real account, cluster or credential).
"""

from __future__ import annotations

from itertools import product

# The parameters without a default.
REQUIRED_VALUES = {"CodeBucket": "my-code-bucket", "AllowClusters": "ehpc-hz-FYUr32a1b2"}

REDIS_URL = "rediss://:not-a-real-password@r-bp1fake.redis.rds.aliyuncs.com:6379/0"
REDIS = {
    "StateStore": "redis",
    "RedisUrl": REDIS_URL,
    "VpcId": "vpc-bp1fakevpc0001",
    "VSwitchIds": "vsw-bp1fakevsw0001,vsw-bp1fakevsw0002",
    "SecurityGroupId": "sg-bp1fakesg0001",
}
EXISTING_TABLESTORE = {
    "StateStore": "existing-tablestore",
    "TablestoreInstanceName": "ops-state",
    "TablestoreTableName": "rerun_state",
}
LOGS = {"LogProject": "ops-logs", "LogStore": "ehpc-rerun"}

# Every feature on (the state store is the default one, a new Tablestore instance).
ALL_ON = {
    **REQUIRED_VALUES,
    **LOGS,
    "AllowClusters": "ehpc-hz-FYUr32a1b2, ehpc-sh-abc123",
    "DenyClusters": "ehpc-hz-deny0001",
    "EhpcRegion": "cn-shanghai",
    "HttpAuthType": "anonymous",
    "HttpSecret": "x" * 40,
    "AlertToken": "t" * 32,
    "DetectorClusters": "ehpc-hz-FYUr32a1b2",
    "DetectorRules": '{"rules": [{"name": "queued-too-long", "state": "queued", "older_than": "2h"}]}',
    "DetectorReportOnly": "false",
    "TriggerTopicName": "ehpc-stuck-jobs",
    "TriggerQueueName": "ehpc-stuck-jobs-q",
    "RocketMQInstanceId": "MQ_INST_1_abc",
    "RocketMQTopic": "stuck",
    "RocketMQGroupId": "GID_ehpc",
    "KafkaInstanceId": "alikafka_pre-cn-x",
    "KafkaTopic": "stuck",
    "KafkaConsumerGroup": "ehpc-rerun",
    "EnableCloudMonitorTrigger": "true",
    "EnableNodeEventsTrigger": "true",
    "NodeCheckInScan": "true",
    "SinkMnsTopic": "ehpc-rerun-reports",
    "SinkEventBusName": "ops",
    "DingTalkWebhook": "https://oapi.dingtalk.com/robot/send?access_token=abc",
    "DingTalkSecret": "SECabc",
    "AlertEmails": "oncall@example.com,hpc-admins@example.com",
}

STATE_CHOICES = {
    "create-tablestore": {"StateStore": "create-tablestore"},
    "create-tablestore-named": {"StateStore": "create-tablestore", "TablestoreInstanceName": "my-ehpc-state"},
    "existing-tablestore": EXISTING_TABLESTORE,
    "redis": REDIS,
    "instance-local": {"StateStore": "instance-local"},
}


def combinations() -> dict[str, dict[str, str]]:
    """Each state store x logs off / logs with index and alert / logs without either, plus the
    number parameters at both ends of their ranges and the detector rules given as a file."""
    out: dict[str, dict[str, str]] = {}
    log_choices = {
        "no-logs": {},
        "logs-index-alert": {**LOGS, "AlertEmails": "oncall@example.com"},
        "logs-only": {**LOGS, "CreateLogIndex": "false"},
    }
    for (state, state_values), (logs, log_values) in product(STATE_CHOICES.items(), log_choices.items()):
        out[f"{state}/{logs}"] = {**REQUIRED_VALUES, **state_values, **log_values}
    for state, state_values in STATE_CHOICES.items():
        out[f"{state}/everything-on"] = {**ALL_ON, **state_values}
    out["smallest-numbers"] = {**REQUIRED_VALUES, "MemorySize": "128", "Timeout": "10"}
    out["largest-numbers"] = {**REQUIRED_VALUES, "MemorySize": "3072", "Timeout": "600"}
    out["rules-file"] = {**ALL_ON, "DetectorRules": "", "DetectorRulesFile": "detector-rules.yaml"}
    for name, values in NODE_CHECK_CHOICES.items():
        out[f"node-check/{name}"] = {**REQUIRED_VALUES, **values}
    return out


# Who can make the function call ListNodes: the node event trigger, the scan's node check, both, neither.
NODE_CHECK_CHOICES = {
    "off": {},
    "node-events-only": {"EnableNodeEventsTrigger": "true"},
    "in-scan-only": {"NodeCheckInScan": "true"},
    "both": {"EnableNodeEventsTrigger": "true", "NodeCheckInScan": "true"},
}
