"""Screen texts (userMessage) for each stable error code, per --locale."""

from __future__ import annotations

SUPPORTED_LOCALES = ("zh-TW", "zh-CN", "en")
DEFAULT_LOCALE = "zh-TW"

_USER_MESSAGES: dict[str, dict[str, str]] = {
    "PARSE_ERROR": {
        "zh-TW": "收到的資料格式錯誤，請重試。",
        "zh-CN": "收到的数据格式错误，请重试。",
        "en": "The request could not be read. Please try again.",
    },
    "INVALID_REQUEST": {
        "zh-TW": "請求格式不正確。",
        "zh-CN": "请求格式不正确。",
        "en": "The request is not valid.",
    },
    "METHOD_NOT_FOUND": {
        "zh-TW": "不支援此操作，請更新應用程式。",
        "zh-CN": "不支持此操作，请更新应用程序。",
        "en": "This operation is not supported. Please update the app.",
    },
    "VALIDATION_FAILED": {
        "zh-TW": "輸入內容有誤，請檢查標示的欄位。",
        "zh-CN": "输入内容有误，请检查标出的字段。",
        "en": "Some fields are invalid. Please check the marked fields.",
    },
    "INTERNAL_ERROR": {
        "zh-TW": "發生未預期的錯誤，請稍後再試或聯絡客服。",
        "zh-CN": "发生意外错误，请稍后再试或联系客服。",
        "en": "Something went wrong. Please try again later or contact support.",
    },
    "DATABASE_NOT_READY": {
        "zh-TW": "資料庫尚未就緒，請重新啟動應用程式；若問題持續，請更新應用程式。",
        "zh-CN": "数据库尚未就绪，请重新启动应用程序；若问题持续，请更新应用程序。",
        "en": "The database is not ready. Restart the app; if this persists, update it.",
    },
    "DATABASE_BUSY": {
        "zh-TW": "資料庫忙碌中，請稍後再試。",
        "zh-CN": "数据库繁忙，请稍后再试。",
        "en": "The database is busy. Please try again in a moment.",
    },
    "DATABASE_UNAVAILABLE": {
        "zh-TW": "無法寫入或讀取資料庫檔案，請檢查磁碟空間與檔案權限。",
        "zh-CN": "无法读写数据库文件，请检查磁盘空间和文件权限。",
        "en": "The database file cannot be read or written. Check disk space and file permissions.",
    },
    "IDEMPOTENCY_CONFLICT": {
        "zh-TW": "此請求編號已用於另一個不同的任務。",
        "zh-CN": "此请求编号已用于另一个不同的任务。",
        "en": "This request id was already used for a different task.",
    },
    "NOT_FOUND": {
        "zh-TW": "找不到此行銷任務。",
        "zh-CN": "找不到此营销任务。",
        "en": "This marketing task was not found.",
    },
}


def user_message(code_name: str, locale: str) -> str:
    texts = _USER_MESSAGES[code_name]
    return texts.get(locale, texts[DEFAULT_LOCALE])
