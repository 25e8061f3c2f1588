import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KubeconfigRequest(_message.Message):
    __slots__ = ("service_account", "service_account_ttl", "service_account_user", "service_account_groups", "grant_type", "break_glass", "oidc_cache_base_dir", "oidc_cache_isolation")
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_TTL_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_USER_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_GROUPS_FIELD_NUMBER: _ClassVar[int]
    GRANT_TYPE_FIELD_NUMBER: _ClassVar[int]
    BREAK_GLASS_FIELD_NUMBER: _ClassVar[int]
    OIDC_CACHE_BASE_DIR_FIELD_NUMBER: _ClassVar[int]
    OIDC_CACHE_ISOLATION_FIELD_NUMBER: _ClassVar[int]
    service_account: bool
    service_account_ttl: _duration_pb2.Duration
    service_account_user: str
    service_account_groups: _containers.RepeatedScalarFieldContainer[str]
    grant_type: str
    break_glass: bool
    oidc_cache_base_dir: str
    oidc_cache_isolation: bool
    def __init__(self, service_account: _Optional[bool] = ..., service_account_ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., service_account_user: _Optional[str] = ..., service_account_groups: _Optional[_Iterable[str]] = ..., grant_type: _Optional[str] = ..., break_glass: _Optional[bool] = ..., oidc_cache_base_dir: _Optional[str] = ..., oidc_cache_isolation: _Optional[bool] = ...) -> None: ...

class KubeconfigResponse(_message.Message):
    __slots__ = ("kubeconfig",)
    KUBECONFIG_FIELD_NUMBER: _ClassVar[int]
    kubeconfig: bytes
    def __init__(self, kubeconfig: _Optional[bytes] = ...) -> None: ...
